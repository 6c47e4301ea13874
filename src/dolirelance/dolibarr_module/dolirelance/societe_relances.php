<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/societe_relances.php
 * \ingroup dolirelance
 * \brief   Tab « Relances devis » of the third-party card: the follow-ups of all the customer's quotes.
 */

// Dolibarr's environment, wherever the module lives (custom/ or htdocs/)
require __DIR__.'/lib/main_loader.inc.php';

require_once DOL_DOCUMENT_ROOT.'/core/lib/company.lib.php';
require_once DOL_DOCUMENT_ROOT.'/societe/class/societe.class.php';
dol_include_once('/dolirelance/lib/dolirelance.lib.php');

$langs->loadLangs(array('companies', 'propal', 'agenda', 'dolirelance@dolirelance'));

$socid = GETPOST('socid', 'int');
if ($user->socid > 0) {
	$socid = $user->socid;
}

$object = new Societe($db);
if ($socid <= 0 || $object->fetch($socid) <= 0) {
	accessforbidden($langs->trans('ErrorRecordNotFound'), 0);
}
restrictedArea($user, 'societe', $object->id, '&societe');
if (!isModEnabled('dolirelance') || !$user->hasRight('dolirelance', 'read')) {
	accessforbidden();
}

$rows = dolirelanceEventRows($db, $user, $object->id, 0);

llxHeader('', $langs->trans('DolirelanceTabCustomer').' - '.$object->name);

$head = societe_prepare_head($object);
print dol_get_fiche_head($head, 'relancesdevis', $langs->trans('ThirdParty'), -1, 'company');

$linkback = '<a href="'.DOL_URL_ROOT.'/societe/list.php?restore_lastsearch_values=1">'.$langs->trans('BackToList').'</a>';
dol_banner_tab($object, 'socid', $linkback, ($user->socid ? 0 : 1), 'rowid', 'nom');

print dol_get_fiche_end();

print dolirelanceFollowUpsTab($db, $rows, true);

llxFooter();
$db->close();
