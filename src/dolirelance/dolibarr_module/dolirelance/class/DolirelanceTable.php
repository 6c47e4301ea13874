<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/class/DolirelanceTable.php
 * \ingroup dolirelance
 * \brief   The follow-ups table of one quote or one customer, built from the quote(s)' agenda events.
 *
 * Input: plain event rows (what lib/dolirelance.lib.php reads with Dolibarr's ActionComm):
 *   id, code, datep (Unix time), percentage, note, quote_id, owner_id, email_to.
 * Output: one row per follow-up done (AC_RELANCE_EMAIL, AC_RELANCE_LETTER), reply (AC_RELANCE_REPLY)
 * and bounce (AC_RELANCE_BOUNCE), newest first. The next follow-up date of a quote's latest follow-up
 * is its open to-do (AC_RELANCE_TODO: the date a person may have moved in Dolibarr's agenda; next_time),
 * else the day the follow-up planned (its facts line; next_date). Needs nothing from Dolibarr.
 */

require_once __DIR__.'/DolirelanceFacts.php';

class DolirelanceTable
{
	const CODE_EMAIL = 'AC_RELANCE_EMAIL';
	const CODE_LETTER = 'AC_RELANCE_LETTER';
	const CODE_TODO = 'AC_RELANCE_TODO';
	const CODE_REPLY = 'AC_RELANCE_REPLY';
	const CODE_BOUNCE = 'AC_RELANCE_BOUNCE';

	/**
	 * The table's rows.
	 *
	 * @param  array<int,array<string,mixed>> $events  Event rows of one quote or one customer
	 * @return array<int,array<string,mixed>>
	 */
	public static function rows(array $events)
	{
		$rows = array();
		$todos = array();  // quote id => the earliest open to-do of the next follow-up
		foreach ($events as $event) {
			$code = isset($event['code']) ? (string) $event['code'] : '';
			$facts = DolirelanceFacts::decode(isset($event['note']) ? $event['note'] : '');
			$quoteId = isset($event['quote_id']) ? (int) $event['quote_id'] : 0;
			if ($code === self::CODE_TODO) {
				// a to-do to answer a customer or fix an address ("for" in its facts) plans no follow-up
				if ((int) $event['percentage'] < 100 && !isset($facts['for'])) {
					if (!isset($todos[$quoteId]) || (int) $event['datep'] < (int) $todos[$quoteId]['datep']) {
						$todos[$quoteId] = $event;
					}
				}
				continue;
			}
			if (!in_array($code, array(self::CODE_EMAIL, self::CODE_LETTER, self::CODE_REPLY, self::CODE_BOUNCE), true)) {
				continue;
			}
			$row = array(
				'kind' => self::kindOf($code),
				'event_id' => (int) $event['id'],
				'quote_id' => $quoteId,
				'date' => (int) $event['datep'],
				'owner_id' => isset($event['owner_id']) ? (int) $event['owner_id'] : 0,
				'model' => isset($facts['model']) ? $facts['model'] : '',
				'level' => isset($facts['level']) ? (int) $facts['level'] : null,
				'step' => isset($facts['step']) ? (int) $facts['step'] : null,
				'automatic' => isset($facts['auto']) && $facts['auto'] === '1',
				'key' => isset($facts['key']) ? $facts['key'] : '',
				'channel' => '',
				'note' => DolirelanceFacts::userNote(isset($event['note']) ? $event['note'] : ''),
				'next_date' => null,  // YYYY-MM-DD, as the follow-up planned it
				'next_time' => null,  // Unix time of the open to-do, when there is one
				'next_from' => null,  // facts, todo or null
				'file' => isset($facts['file']) ? $facts['file'] : '',
				'address' => isset($facts['address']) ? $facts['address'] : '',
				'recipients' => isset($event['email_to']) ? (string) $event['email_to'] : '',
			);
			if ($row['kind'] === 'followup') {
				$row['channel'] = ($code === self::CODE_EMAIL) ? 'email' : 'letter';
				if (isset($facts['next']) && self::isDay($facts['next'])) {
					$row['next_date'] = $facts['next'];
					$row['next_from'] = 'facts';
				}
			}
			$rows[] = $row;
		}
		usort($rows, array(__CLASS__, 'newestFirst'));

		$seen = array();  // quotes whose latest follow-up was met
		foreach ($rows as $i => $row) {
			if ($row['kind'] !== 'followup' || isset($seen[$row['quote_id']])) {
				continue;
			}
			$seen[$row['quote_id']] = true;
			if (isset($todos[$row['quote_id']])) {
				// a moment, not a day: Dolibarr shows it in the user's time zone
				$rows[$i]['next_time'] = (int) $todos[$row['quote_id']]['datep'];
				$rows[$i]['next_from'] = 'todo';
				$rows[$i]['todo_id'] = (int) $todos[$row['quote_id']]['id'];
			}
		}
		return $rows;
	}

	/**
	 * @param  string $code  An AC_RELANCE_* code
	 * @return string        followup, reply or bounce
	 */
	private static function kindOf($code)
	{
		if ($code === self::CODE_REPLY) {
			return 'reply';
		}
		if ($code === self::CODE_BOUNCE) {
			return 'bounce';
		}
		return 'followup';
	}

	/**
	 * @param  string $text  A candidate YYYY-MM-DD day
	 * @return bool
	 */
	private static function isDay($text)
	{
		return (bool) preg_match('/^\d{4}-\d{2}-\d{2}$/', $text) && checkdate((int) substr($text, 5, 2), (int) substr($text, 8, 2), (int) substr($text, 0, 4));
	}

	/**
	 * @param  array<string,mixed> $a  A row
	 * @param  array<string,mixed> $b  Another row
	 * @return int
	 */
	private static function newestFirst($a, $b)
	{
		if ($a['date'] !== $b['date']) {
			return ($a['date'] < $b['date']) ? 1 : -1;
		}
		return $b['event_id'] - $a['event_id'];
	}
}
