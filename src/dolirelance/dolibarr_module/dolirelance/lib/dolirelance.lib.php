<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/lib/dolirelance.lib.php
 * \ingroup dolirelance
 * \brief   The module's pages' common parts, over Dolibarr's own classes (ActionComm, Propal, User).
 */

require_once DOL_DOCUMENT_ROOT.'/comm/action/class/actioncomm.class.php';
require_once DOL_DOCUMENT_ROOT.'/comm/propal/class/propal.class.php';
require_once __DIR__.'/../class/DolirelanceTable.php';

/**
 * The tabs of the setup page.
 *
 * @return array<int,array<int,string>>
 */
function dolirelanceAdminPrepareHead()
{
	global $langs, $conf;

	$head = array();
	$head[0][0] = dol_buildpath('/dolirelance/admin/setup.php', 1);
	$head[0][1] = $langs->trans('Settings');
	$head[0][2] = 'settings';
	$h = 1;  // passed by reference: Dolibarr counts the tabs other modules add
	complete_head_from_modules($conf, $langs, null, $head, $h, 'dolirelance@dolirelance');
	complete_head_from_modules($conf, $langs, null, $head, $h, 'dolirelance@dolirelance', 'remove');
	return $head;
}

/**
 * The SQL condition limiting events to those the user may see, as Dolibarr's own agenda lists do:
 * without agenda.allactions.read only their own events, without societe.client.voir only their customers'.
 *
 * @param  User $user The logged-in user
 * @return string     " AND ..." (empty when the user sees everything)
 */
function dolirelanceVisibilityFilter($user)
{
	$filter = '';
	if (!$user->hasRight('agenda', 'allactions', 'read')) {
		$filter .= ' AND (a.fk_user_action = '.((int) $user->id).' OR a.fk_user_author = '.((int) $user->id).')';
	}
	if ($user->socid > 0) {
		$filter .= ' AND a.fk_soc = '.((int) $user->socid);
	} elseif (!$user->hasRight('societe', 'client', 'voir')) {
		$filter .= ' AND a.fk_soc IN (SELECT sc.fk_soc FROM '.MAIN_DB_PREFIX.'societe_commerciaux as sc WHERE sc.fk_user = '.((int) $user->id).')';
	}
	return $filter;
}

/**
 * The follow-up events (code AC_RELANCE...) as plain rows for DolirelanceTable, read with ActionComm.
 *
 * @param  DoliDB $db      Database handler
 * @param  User   $user    The logged-in user (what they may see)
 * @param  int    $socid   A customer's id, or 0
 * @param  int    $quoteId A proposal's id, or 0
 * @param  string $filter  More conditions (" AND ..."), or ''
 * @param  int    $limit   At most this many events (0: all)
 * @return array<int,array<string,mixed>>|string  The rows, or Dolibarr's error
 */
function dolirelanceEventRows($db, $user, $socid, $quoteId, $filter = '', $limit = 0)
{
	$actioncomm = new ActionComm($db);
	$where = " AND a.code LIKE 'AC\\_RELANCE%'".dolirelanceVisibilityFilter($user).$filter;
	if ($quoteId > 0) {
		$events = $actioncomm->getActions($socid, $quoteId, 'propal', $where, 'a.datep', 'DESC', $limit);
	} else {
		$events = $actioncomm->getActions($socid, 0, '', $where." AND a.elementtype = 'propal'", 'a.datep', 'DESC', $limit);
	}
	if (!is_array($events)) {
		return $events;
	}
	$rows = array();
	foreach ($events as $event) {
		$rows[] = array(
			'id' => (int) $event->id,
			'code' => (string) $event->code,
			'datep' => (int) $event->datep,
			'percentage' => (int) $event->percentage,
			'note' => (string) (!empty($event->note_private) ? $event->note_private : (isset($event->note) ? $event->note : '')),
			'quote_id' => ($event->elementtype == 'propal') ? (int) $event->fk_element : 0,
			'socid' => (int) $event->socid,
			'owner_id' => (int) $event->userownerid,
			'email_to' => (string) $event->email_to,
		);
	}
	return $rows;
}

/**
 * A card's tab of follow-ups: its title and the table. When reading them failed, Dolibarr's error is
 * shown as Dolibarr shows errors, above an empty table.
 *
 * @param  DoliDB       $db        Database handler
 * @param  array|string $rows      dolirelanceEventRows(): the rows, or Dolibarr's error
 * @param  bool         $withQuote Show the quote and customer columns (customer card)
 * @return string                  HTML
 */
function dolirelanceFollowUpsTab($db, $rows, $withQuote)
{
	global $langs;

	if (!is_array($rows)) {
		setEventMessages($rows, null, 'errors');
		$rows = array();
	}
	return load_fiche_titre($langs->trans('DolirelanceFollowUps'), '', '')
		.dolirelanceTableHtml($db, DolirelanceTable::rows($rows), $withQuote);
}

/**
 * The follow-ups table, as Dolibarr's own lists look.
 *
 * @param  DoliDB $db         Database handler
 * @param  array  $rows       DolirelanceTable::rows()
 * @param  bool   $withQuote  Show the quote and customer columns (customer card, list)
 * @return string             HTML
 */
function dolirelanceTableHtml($db, array $rows, $withQuote)
{
	global $langs;

	$users = array();
	$quotes = array();
	$html = '<div class="div-table-responsive">';
	$html .= '<table class="noborder centpercent">';
	$html .= '<tr class="liste_titre">';
	$html .= '<th>'.$langs->trans('Ref').'</th>';
	if ($withQuote) {
		$html .= '<th>'.$langs->trans('ThirdParty').'</th><th>'.$langs->trans('Proposal').'</th>';
	}
	$html .= '<th>'.$langs->trans('DolirelanceWhat').'</th>';
	$html .= '<th>'.$langs->trans('DolirelanceModel').'</th>';
	$html .= '<th class="center">'.$langs->trans('Date').'</th>';
	$html .= '<th class="center">'.$langs->trans('DolirelanceNextDate').'</th>';
	$html .= '<th>'.$langs->trans('User').'</th>';
	$html .= '<th>'.$langs->trans('Note').'</th>';
	$html .= '<th>'.$langs->trans('File').'</th>';
	$html .= '</tr>';
	if (empty($rows)) {
		$html .= '<tr class="oddeven"><td colspan="'.($withQuote ? 10 : 8).'"><span class="opacitymedium">'.$langs->trans('DolirelanceNone').'</span></td></tr>';
	}
	foreach ($rows as $row) {
		$quote = null;
		if ($row['quote_id'] > 0) {
			if (!array_key_exists($row['quote_id'], $quotes)) {
				$propal = new Propal($db);
				$quotes[$row['quote_id']] = ($propal->fetch($row['quote_id']) > 0) ? $propal : null;
				if ($quotes[$row['quote_id']] !== null) {
					$quotes[$row['quote_id']]->fetch_thirdparty();
				}
			}
			$quote = $quotes[$row['quote_id']];
		}
		$event = new ActionComm($db);
		$event->id = $row['event_id'];
		$event->ref = $row['event_id'];
		$html .= '<tr class="oddeven">';
		$html .= '<td class="nowraponall">'.$event->getNomUrl(1, -1).'</td>';
		if ($withQuote) {
			$html .= '<td class="tdoverflowmax150">'.(($quote && $quote->thirdparty) ? $quote->thirdparty->getNomUrl(1) : '').'</td>';
			$html .= '<td class="nowraponall">'.($quote ? $quote->getNomUrl(1) : '').'</td>';
		}
		$html .= '<td>'.dol_escape_htmltag(dolirelanceWhat($row)).'</td>';
		$html .= '<td>'.dol_escape_htmltag($row['model']).'</td>';
		$html .= '<td class="center nowraponall">'.dol_print_date($row['date'], 'dayhour', 'tzuser').'</td>';
		$next = '';
		if (!empty($row['next_time'])) {
			$next = dol_print_date($row['next_time'], 'day', 'tzuser');
		} elseif (!empty($row['next_date'])) {
			$next = dol_print_date(dol_mktime(12, 0, 0, (int) substr($row['next_date'], 5, 2), (int) substr($row['next_date'], 8, 2), (int) substr($row['next_date'], 0, 4)), 'day');
		}
		$html .= '<td class="center nowraponall">'.$next.'</td>';
		$owner = '';
		if ($row['owner_id'] > 0) {
			if (!isset($users[$row['owner_id']])) {
				$users[$row['owner_id']] = new User($db);
				$users[$row['owner_id']]->fetch($row['owner_id']);
			}
			$owner = $users[$row['owner_id']]->getNomUrl(-1);
		}
		$html .= '<td class="tdoverflowmax150">'.$owner.'</td>';
		$html .= '<td class="tdoverflowmax300">'.dol_nl2br(dol_escape_htmltag(dolirelanceNoteText($row))).'</td>';
		$file = '';
		if ($row['file'] !== '' && $quote) {
			$path = dol_sanitizeFileName($quote->ref).'/'.$row['file'];
			$file = '<a href="'.DOL_URL_ROOT.'/document.php?modulepart=propal&file='.urlencode($path).'">'.img_mime($row['file']).' '.dol_escape_htmltag($row['file']).'</a>';
		}
		$html .= '<td class="tdoverflowmax200">'.$file.'</td>';
		$html .= '</tr>';
	}
	$html .= '</table></div>';
	return $html;
}

/**
 * What a row is: a follow-up by e-mail or letter (automatic step), a reply, a bounce.
 *
 * @param  array<string,mixed> $row A DolirelanceTable row
 * @return string
 */
function dolirelanceWhat(array $row)
{
	global $langs;

	if ($row['kind'] === 'reply') {
		return $langs->transnoentities('DolirelanceReply');
	}
	if ($row['kind'] === 'bounce') {
		return $langs->transnoentities('DolirelanceBounce', $row['address']);
	}
	$what = $langs->transnoentities($row['channel'] === 'email' ? 'DolirelanceByEmail' : 'DolirelanceByLetter');
	if ($row['automatic']) {
		$what .= ' ('.$langs->transnoentities('DolirelanceAutomaticStep', (string) $row['step']).')';
	}
	return $what;
}

/**
 * The note column: the person's note; for a reply or bounce, the message kept in the event.
 *
 * @param  array<string,mixed> $row A DolirelanceTable row
 * @return string
 */
function dolirelanceNoteText(array $row)
{
	return dol_trunc($row['note'], 400);
}

/**
 * A link to one of dolirelance's pages through go.php (which signs the user in when a secret is set).
 *
 * @param  string $target  email, letter, preview, new, mass, todo, report, followups
 * @param  int    $quoteId A proposal's id, or 0
 * @return string          URL
 */
function dolirelanceGoUrl($target, $quoteId = 0)
{
	return dol_buildpath('/dolirelance/go.php', 1).'?to='.urlencode($target).($quoteId > 0 ? '&id='.((int) $quoteId) : '');
}

/**
 * The buttons « Relancer par e-mail », « Relancer par courrier », « Aperçu » of a quote.
 *
 * @param  User $user    The logged-in user
 * @param  int  $quoteId A proposal's id
 * @return string        HTML
 */
function dolirelanceButtons($user, $quoteId)
{
	global $langs;

	if (getDolGlobalString('DOLIRELANCE_WEB_URL') === '') {
		return '<div class="tabsAction"><span class="opacitymedium">'.$langs->trans('DolirelanceNoUrl').'</span></div>';
	}
	$canSend = $user->hasRight('dolirelance', 'write');
	$html = '<div class="tabsAction">';
	foreach (array('email' => 'DolirelanceRemindByEmail', 'letter' => 'DolirelanceRemindByLetter', 'preview' => 'DolirelancePreview') as $target => $label) {
		if ($target !== 'preview' && !$canSend) {
			$html .= '<span class="butActionRefused classfortooltip" title="'.dol_escape_htmltag($langs->trans('NotEnoughPermissions')).'">'.$langs->trans($label).'</span>';
			continue;
		}
		$html .= '<a class="butAction" target="_blank" rel="noopener" href="'.dol_escape_htmltag(dolirelanceGoUrl($target, $quoteId)).'">'.$langs->trans($label).'</a>';
	}
	$html .= '</div>';
	return $html;
}
