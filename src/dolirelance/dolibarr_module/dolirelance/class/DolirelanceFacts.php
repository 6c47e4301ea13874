<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/class/DolirelanceFacts.php
 * \ingroup dolirelance
 * \brief   Reads the facts line dolirelance writes at the end of the note of its agenda events.
 *
 * The line looks like
 *   dolirelance: key=manual%3A3f2a; model=1%C3%A8re%20relance; level=1; channel=email; next=2026-12-13
 * (values percent-encoded). The Python writer and this reader share one set of fixture lines
 * (tests/fixtures/facts-lines.json in dolirelance's repository). Needs nothing from Dolibarr.
 */
class DolirelanceFacts
{
	const MARKER = 'dolirelance:';

	/**
	 * The facts of the last "dolirelance:" line of a note (an empty array when there is none).
	 *
	 * @param  string|null $note  The event's note, plain text or Dolibarr's restricted HTML
	 * @return array<string,string>
	 */
	public static function decode($note)
	{
		$text = html_entity_decode((string) $note, ENT_QUOTES | ENT_HTML5, 'UTF-8');
		if (!preg_match_all('/dolirelance:\s*([^<\n\r]*)/u', $text, $matches)) {
			return array();
		}
		$facts = array();
		foreach (explode(';', end($matches[1])) as $part) {
			$pos = strpos($part, '=');
			if ($pos === false) {
				continue;
			}
			$key = trim(substr($part, 0, $pos));
			if ($key === '') {
				continue;
			}
			$facts[$key] = rawurldecode(trim(substr($part, $pos + 1)));
		}
		return $facts;
	}

	/**
	 * The note a person wrote, as plain text: HTML line ends made line ends, tags and the facts line taken out.
	 *
	 * @param  string|null $note  The event's note
	 * @return string
	 */
	public static function userNote($note)
	{
		$text = preg_replace('/<br\s*\/?>\r?\n?|<\/p>\r?\n?|<\/div>\r?\n?/i', "\n", (string) $note);
		$text = preg_replace('/<\/?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?\/?>/', '', $text);
		$text = html_entity_decode($text, ENT_QUOTES | ENT_HTML5, 'UTF-8');
		$text = preg_replace('/<br\s*\/?>/i', "\n", $text);  // a note escaped twice
		$kept = array();
		foreach (preg_split('/\r\n|\r|\n/', $text) as $line) {
			if (strpos(ltrim($line), self::MARKER) === 0) {
				continue;
			}
			$kept[] = rtrim($line);
		}
		return trim(implode("\n", $kept));
	}
}
