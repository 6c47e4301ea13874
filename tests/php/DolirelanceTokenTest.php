<?php
use PHPUnit\Framework\TestCase;

/**
 * The module's signed tokens: the same fields as dolirelance's sign_token for the same inputs (tests/fixtures/sso-tokens.json).
 */
final class DolirelanceTokenTest extends TestCase
{
	public function testSignsAsDolirelanceVerifies(): void
	{
		$fixture = dolirelance_fixture('sso-tokens.json');
		$this->assertSame($fixture['lifetime'], DolirelanceToken::LIFETIME);
		$this->assertNotEmpty($fixture['tokens']);
		foreach ($fixture['tokens'] as $case) {
			$in = $case['inputs'];
			$fields = DolirelanceToken::sign($fixture['secret'], $in['login'], $in['quote_id'], $in['target'], $in['api_key'], $in['now'], $in['nonce'], hex2bin($in['iv_hex']));
			$this->assertSame($case['fields'], $fields, $in['login']);
		}
	}

	public function testTheApiKeyIsEncryptedNotSent(): void
	{
		$fields = DolirelanceToken::sign(str_repeat('s', 40), 'jdupont', 42, 'email', 'demo-sales-key', 1796000000);
		$this->assertStringNotContainsString('demo-sales-key', implode('|', $fields));
		$this->assertSame(32, strlen($fields['nonce']));
		$this->assertSame('1796000090', $fields['exp']);
		$other = DolirelanceToken::sign(str_repeat('s', 40), 'jdupont', 42, 'email', 'demo-sales-key', 1796000000);
		$this->assertNotSame($fields['nonce'], $other['nonce']);
		$this->assertNotSame($fields['key'], $other['key']);
	}

	public function testAnotherSecretGivesAnotherSignature(): void
	{
		$one = DolirelanceToken::sign(str_repeat('a', 40), 'jdupont', 42, 'email', '', 1796000000, str_repeat('0', 32), str_repeat("\0", 12));
		$two = DolirelanceToken::sign(str_repeat('b', 40), 'jdupont', 42, 'email', '', 1796000000, str_repeat('0', 32), str_repeat("\0", 12));
		$this->assertSame('', $one['key']);
		$this->assertNotSame($one['sig'], $two['sig']);
		$this->assertMatchesRegularExpression('/^[0-9a-f]{64}$/', $one['sig']);
	}

	public function testRefusesToSignWithoutASecretOrWithALineBreak(): void
	{
		try {
			DolirelanceToken::sign('', 'jdupont', 42, 'email', 'k', 1796000000);
			$this->fail('signed without a secret');
		} catch (InvalidArgumentException $e) {
			$this->assertStringContainsString('DOLIRELANCE_SSO_SECRET', $e->getMessage());
		}
		$this->expectException(InvalidArgumentException::class);
		DolirelanceToken::sign('secret', "jdupont\nadmin", 42, 'email', 'k', 1796000000);
	}
}
