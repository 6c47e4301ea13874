<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/admin/setup.php
 * \ingroup dolirelance
 * \brief   Setup page: dolirelance's address and the secret shared with it (arriving signed in).
 */

// Dolibarr's environment, wherever the module lives (custom/ or htdocs/)
require __DIR__.'/../lib/main_loader.inc.php';

require_once DOL_DOCUMENT_ROOT.'/core/lib/admin.lib.php';
dol_include_once('/dolirelance/lib/dolirelance.lib.php');

$langs->loadLangs(array('admin', 'dolirelance@dolirelance'));

if (!$user->admin) {
	accessforbidden();
}

$action = GETPOST('action', 'aZ09');

// Dolibarr's main.inc.php checks the CSRF token of these POSTs
if ($action == 'update') {
	$url = trim(GETPOST('DOLIRELANCE_WEB_URL', 'alphanohtml'));
	$secret = trim(GETPOST('DOLIRELANCE_SSO_SECRET', 'alphanohtml'));
	$error = 0;
	if ($url !== '' && !preg_match('/^https?:\/\/[^\s\/]+/i', $url)) {
		setEventMessages($langs->trans('DolirelanceBadUrl'), null, 'errors');
		$error++;
	}
	if ($secret !== '' && strlen($secret) < 32) {
		setEventMessages($langs->trans('DolirelanceShortSecret'), null, 'errors');
		$error++;
	}
	if (!$error) {
		dolibarr_set_const($db, 'DOLIRELANCE_WEB_URL', rtrim($url, '/'), 'chaine', 0, '', $conf->entity);
		dolibarr_set_const($db, 'DOLIRELANCE_SSO_SECRET', $secret, 'chaine', 0, '', $conf->entity);
		setEventMessages($langs->trans('SetupSaved'), null, 'mesgs');
	}
} elseif ($action == 'newsecret') {
	dolibarr_set_const($db, 'DOLIRELANCE_SSO_SECRET', bin2hex(random_bytes(32)), 'chaine', 0, '', $conf->entity);
	setEventMessages($langs->trans('DolirelanceSecretMade'), null, 'mesgs');
}

llxHeader('', $langs->trans('DolirelanceSetup'));

$linkback = '<a href="'.DOL_URL_ROOT.'/admin/modules.php?restore_lastsearch_values=1">'.$langs->trans('BackToModuleList').'</a>';
print load_fiche_titre($langs->trans('DolirelanceSetup'), $linkback, 'title_setup');

$head = dolirelanceAdminPrepareHead();
print dol_get_fiche_head($head, 'settings', $langs->trans('ModuleDolirelanceName'), -1, 'fa-paper-plane');

print '<span class="opacitymedium">'.$langs->trans('DolirelanceSetupHelp').'</span><br><br>';

print '<form method="POST" action="'.$_SERVER['PHP_SELF'].'">';
print '<input type="hidden" name="token" value="'.newToken().'">';
print '<input type="hidden" name="action" value="update">';
print '<table class="noborder centpercent">';
print '<tr class="liste_titre"><td>'.$langs->trans('Parameter').'</td><td>'.$langs->trans('Value').'</td></tr>';
print '<tr class="oddeven"><td>'.$langs->trans('DolirelanceWebUrl').'<br><span class="opacitymedium small">'.$langs->trans('DolirelanceWebUrlHelp').'</span></td>';
print '<td><input type="url" class="minwidth400" name="DOLIRELANCE_WEB_URL" placeholder="https://relances.example.com" value="'.dol_escape_htmltag(getDolGlobalString('DOLIRELANCE_WEB_URL')).'"></td></tr>';
print '<tr class="oddeven"><td>'.$langs->trans('DolirelanceSsoSecret').'<br><span class="opacitymedium small">'.$langs->trans('DolirelanceSsoSecretHelp').'</span></td>';
print '<td><input type="text" class="minwidth400" autocomplete="off" spellcheck="false" name="DOLIRELANCE_SSO_SECRET" value="'.dol_escape_htmltag(getDolGlobalString('DOLIRELANCE_SSO_SECRET')).'"></td></tr>';
print '</table>';
print '<div class="center"><input type="submit" class="button button-save" value="'.$langs->trans('Save').'"></div>';
print '</form>';

print '<br><form method="POST" action="'.$_SERVER['PHP_SELF'].'">';
print '<input type="hidden" name="token" value="'.newToken().'">';
print '<input type="hidden" name="action" value="newsecret">';
print '<div class="center"><input type="submit" class="button" value="'.$langs->trans('DolirelanceMakeSecret').'"></div>';
print '</form>';

print dol_get_fiche_end();

llxFooter();
$db->close();
