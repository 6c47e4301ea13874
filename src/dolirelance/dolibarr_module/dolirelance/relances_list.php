<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/relances_list.php
 * \ingroup dolirelance
 * \brief   Menu Commercial > « Relances devis »: the follow-ups of the open quotes (validated, not signed).
 */

// Dolibarr's environment, wherever the module lives (custom/ or htdocs/)
require __DIR__.'/lib/main_loader.inc.php';

dol_include_once('/dolirelance/lib/dolirelance.lib.php');

$langs->loadLangs(array('propal', 'companies', 'agenda', 'dolirelance@dolirelance'));

if (!isModEnabled('dolirelance') || !$user->hasRight('dolirelance', 'read') || !$user->hasRight('propal', 'lire')) {
	accessforbidden();
}

// The most recent events first; a long history is cut, as Dolibarr's own boxes are
$limit = 500;
$openQuotes = " AND a.fk_element IN (SELECT p.rowid FROM ".MAIN_DB_PREFIX."propal as p WHERE p.fk_statut = ".((int) Propal::STATUS_VALIDATED)." AND p.entity IN (".getEntity('propal')."))";
$rows = dolirelanceEventRows($db, $user, ($user->socid > 0 ? $user->socid : 0), 0, $openQuotes, $limit);

llxHeader('', $langs->trans('DolirelanceMenuList'));

$more = '';
if (getDolGlobalString('DOLIRELANCE_WEB_URL') !== '' && $user->hasRight('dolirelance', 'write')) {
	$more = dolGetButtonTitle($langs->trans('DolirelanceMenuNew'), '', 'fa fa-plus-circle', dolirelanceGoUrl('new'));
}
print load_fiche_titre($langs->trans('DolirelanceListTitle'), $more, 'propal');

if (!is_array($rows)) {
	setEventMessages($rows, null, 'errors');
	$rows = array();
}
if (count($rows) >= $limit) {
	print '<div class="opacitymedium">'.$langs->trans('DolirelanceListCut', $limit).'</div>';
}
print dolirelanceTableHtml($db, DolirelanceTable::rows($rows), true);

llxFooter();
$db->close();
