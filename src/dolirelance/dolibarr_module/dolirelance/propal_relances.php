<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/propal_relances.php
 * \ingroup dolirelance
 * \brief   Tab « Relances » of the proposal card: the quote's follow-ups, replies and bounces.
 */

// Dolibarr's environment, wherever the module lives (custom/ or htdocs/)
require __DIR__.'/lib/main_loader.inc.php';

require_once DOL_DOCUMENT_ROOT.'/core/lib/propal.lib.php';
dol_include_once('/dolirelance/lib/dolirelance.lib.php');

$langs->loadLangs(array('propal', 'companies', 'agenda', 'dolirelance@dolirelance'));

$id = GETPOST('id', 'int');
$ref = GETPOST('ref', 'alpha');

$object = new Propal($db);
if ($id > 0 || !empty($ref)) {
	if ($object->fetch($id, $ref) <= 0) {
		accessforbidden($langs->trans('ErrorRecordNotFound'), 0);
	}
	$object->fetch_thirdparty();
}

// Dolibarr's own check of the quote (its customer, the user's rights on proposals), then the module's
restrictedArea($user, 'propal', $object->id);
if (!isModEnabled('dolirelance') || !$user->hasRight('dolirelance', 'read')) {
	accessforbidden();
}

$rows = dolirelanceEventRows($db, $user, 0, $object->id);

llxHeader('', $langs->trans('DolirelanceTabQuote').' - '.$object->ref);

$head = propal_prepare_head($object);
print dol_get_fiche_head($head, 'relances', $langs->trans('Proposal'), -1, 'propal');

$linkback = '<a href="'.DOL_URL_ROOT.'/comm/propal/list.php?restore_lastsearch_values=1">'.$langs->trans('BackToList').'</a>';
$morehtmlref = '<div class="refidno">'.$langs->trans('ThirdParty').' : '.($object->thirdparty ? $object->thirdparty->getNomUrl(1, 'customer') : '').'</div>';
dol_banner_tab($object, 'ref', $linkback, 1, 'ref', 'ref', $morehtmlref);

print dol_get_fiche_end();

print dolirelanceButtons($user, $object->id);

print dolirelanceFollowUpsTab($db, $rows, false);

llxFooter();
$db->close();
