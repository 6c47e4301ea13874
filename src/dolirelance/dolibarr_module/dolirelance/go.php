<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/go.php
 * \ingroup dolirelance
 * \brief   Opens one of dolirelance's pages; with a shared secret, the user arrives signed in.
 *
 * The token is made when the user clicks (it lives 90 seconds) and posted, never put in a URL
 * (URLs end up in logs and browser histories). Without DOLIRELANCE_SSO_SECRET the browser simply
 * goes to the page, and dolirelance asks for the Dolibarr password as before.
 */

// Dolibarr's environment, wherever the module lives (custom/ or htdocs/)
require __DIR__.'/lib/main_loader.inc.php';

require_once DOL_DOCUMENT_ROOT.'/comm/propal/class/propal.class.php';
dol_include_once('/dolirelance/class/DolirelanceToken.php');

$langs->loadLangs(array('dolirelance@dolirelance'));

// The pages of dolirelance, and the right each needs
$pages = array(
	'email' => array('write', true),
	'letter' => array('write', true),
	'preview' => array('read', true),
	'followups' => array('read', true),
	'new' => array('write', false),
	'mass' => array('write', false),
	'todo' => array('read', false),
	'report' => array('read', false),
);
$target = GETPOST('to', 'aZ09');
$quoteId = (int) GETPOST('id', 'int');
if (!isModEnabled('dolirelance') || !isset($pages[$target]) || !$user->hasRight('dolirelance', $pages[$target][0])) {
	accessforbidden();
}
if ($pages[$target][1]) {
	$quote = new Propal($db);
	if ($quoteId <= 0 || $quote->fetch($quoteId) <= 0) {
		accessforbidden($langs->trans('ErrorRecordNotFound'), 0);
	}
	restrictedArea($user, 'propal', $quote->id);  // only quotes the user may open in Dolibarr
} else {
	$quoteId = 0;
}

$base = rtrim(getDolGlobalString('DOLIRELANCE_WEB_URL'), '/');
if (!preg_match('/^https?:\/\//i', $base)) {
	accessforbidden($langs->trans('DolirelanceNoUrl'), 0);
}
$secret = getDolGlobalString('DOLIRELANCE_SSO_SECRET');

header('Cache-Control: no-store');
header('Referrer-Policy: no-referrer');

if ($secret === '') {
	// dolirelance's address of the same page: it asks for the password, then opens it
	$paths = array(
		'email' => '/quotes/'.$quoteId.'/followup?channel=email',
		'letter' => '/quotes/'.$quoteId.'/followup?channel=letter',
		'preview' => '/quotes/'.$quoteId.'/followup',
		'followups' => '/quotes/'.$quoteId.'/followups',
		'new' => '/followup/new',
		'mass' => '/mass',
		'todo' => '/todo',
		'report' => '/report',
	);
	header('Location: '.$base.$paths[$target]);
	exit;
}

$fields = DolirelanceToken::sign($secret, $user->login, $quoteId, $target, (string) $user->api_key, dol_now());

print '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">';
print '<title>'.dol_escape_htmltag($langs->trans('DolirelanceGoing')).'</title></head><body>';
print '<form id="dolirelance-go" method="post" action="'.dol_escape_htmltag($base.'/login/dolibarr').'">';
foreach ($fields as $name => $value) {
	print '<input type="hidden" name="'.dol_escape_htmltag($name).'" value="'.dol_escape_htmltag($value).'">';
}
print '<noscript><p>'.dol_escape_htmltag($langs->trans('DolirelanceGoingNoScript')).'</p></noscript>';
print '<button type="submit">'.dol_escape_htmltag($langs->trans('DolirelanceGoingButton')).'</button>';
print '</form>';
print '<script>document.getElementById("dolirelance-go").submit();</script>';
print '</body></html>';
$db->close();
