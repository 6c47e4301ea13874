<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/class/DolirelanceToken.php
 * \ingroup dolirelance
 * \brief   The short-lived signed token that lets a Dolibarr user arrive signed in on dolirelance's pages.
 *
 * Fields (posted as a form, never put in a URL): v, login, quote, to, exp, nonce, iv, key, sig.
 * - sig: HMAC-SHA256 (hex) over "dolirelance-sso\nv\nlogin\nquote\nto\nexp\nnonce\niv\nkey", with a key
 *   derived from the shared secret (DOLIRELANCE_SSO_SECRET); dolirelance accepts each nonce once,
 *   only before exp, and exp at most 120 seconds ahead of its own clock.
 * - key: the user's own Dolibarr API key, AES-256-GCM encrypted (ciphertext then 16-byte tag,
 *   base64url) with another key derived from the secret, so that dolirelance acts with that user's
 *   rights as after a password login; empty when the user has no API key yet.
 * Needs nothing from Dolibarr; dolirelance's web/sso.py is the other side (same test vectors).
 */
class DolirelanceToken
{
	const VERSION = '1';
	/** Seconds a token lives; dolirelance refuses any exp further than 120 s ahead. */
	const LIFETIME = 90;

	/**
	 * The signing and encryption keys derived from the shared secret.
	 *
	 * @param  string $secret  The shared secret
	 * @return array{sign:string,encrypt:string}
	 */
	public static function keys($secret)
	{
		return array(
			'sign' => hash_hmac('sha256', 'dolirelance-sso-sign', $secret, true),
			'encrypt' => hash_hmac('sha256', 'dolirelance-sso-encrypt', $secret, true),
		);
	}

	/**
	 * The text the signature covers.
	 *
	 * @param  array<string,string> $fields  The token's fields (sig left out)
	 * @return string
	 */
	public static function signedText(array $fields)
	{
		$parts = array('dolirelance-sso');
		foreach (array('v', 'login', 'quote', 'to', 'exp', 'nonce', 'iv', 'key') as $name) {
			$parts[] = isset($fields[$name]) ? (string) $fields[$name] : '';
		}
		return implode("\n", $parts);
	}

	/**
	 * A signed token for one user, one quote (0: none) and one page of dolirelance.
	 *
	 * @param  string      $secret  The shared secret (DOLIRELANCE_SSO_SECRET)
	 * @param  string      $login   The Dolibarr login of the user
	 * @param  int         $quoteId The proposal's id, or 0
	 * @param  string      $target  The dolirelance page: email, letter, preview, new, mass, todo, report, followups
	 * @param  string      $apiKey  The user's own API key ('' when they have none)
	 * @param  int         $now     Unix time
	 * @param  string|null $nonce   32 hex digits (random when null: tests only pass one)
	 * @param  string|null $iv      12 raw bytes (random when null: tests only pass one)
	 * @return array<string,string>
	 */
	public static function sign($secret, $login, $quoteId, $target, $apiKey, $now, $nonce = null, $iv = null)
	{
		if ((string) $secret === '') {
			throw new InvalidArgumentException('no shared secret: set DOLIRELANCE_SSO_SECRET on the setup page');
		}
		if (preg_match('/[\r\n]/', $login.$target)) {
			throw new InvalidArgumentException('a login or page name with a line break cannot be signed');
		}
		$keys = self::keys($secret);
		$nonce = ($nonce === null) ? bin2hex(random_bytes(16)) : $nonce;
		$iv = ($iv === null) ? random_bytes(12) : $iv;
		$encrypted = '';
		if ((string) $apiKey !== '') {
			$tag = '';
			$cipher = openssl_encrypt((string) $apiKey, 'aes-256-gcm', $keys['encrypt'], OPENSSL_RAW_DATA, $iv, $tag, $login."\n".$nonce, 16);
			if ($cipher === false) {
				throw new RuntimeException('AES-256-GCM is not available in this PHP (openssl extension)');
			}
			$encrypted = self::base64url($cipher.$tag);
		}
		$fields = array(
			'v' => self::VERSION,
			'login' => (string) $login,
			'quote' => (string) ((int) $quoteId),
			'to' => (string) $target,
			'exp' => (string) ((int) $now + self::LIFETIME),
			'nonce' => $nonce,
			'iv' => self::base64url($iv),
			'key' => $encrypted,
		);
		$fields['sig'] = hash_hmac('sha256', self::signedText($fields), $keys['sign']);
		return $fields;
	}

	/**
	 * Base64url without padding.
	 *
	 * @param  string $bytes  Raw bytes
	 * @return string
	 */
	public static function base64url($bytes)
	{
		return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
	}
}
