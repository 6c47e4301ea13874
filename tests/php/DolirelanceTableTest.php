<?php
use PHPUnit\Framework\TestCase;

/**
 * The follow-ups table built from a quote's event rows.
 */
final class DolirelanceTableTest extends TestCase
{
	/**
	 * @param  array<string,mixed> $row Fields that differ from a done e-mail follow-up of quote 42
	 * @return array<string,mixed>
	 */
	private static function event(array $row)
	{
		return array_merge(array('id' => 1, 'code' => 'AC_RELANCE_EMAIL', 'datep' => 1796000000, 'percentage' => 100,
			'note' => '', 'quote_id' => 42, 'socid' => 9, 'owner_id' => 3, 'email_to' => ''), $row);
	}

	public function testFollowUpsRepliesAndBouncesNewestFirstWithTheirFacts(): void
	{
		$rows = DolirelanceTable::rows(array(
			self::event(array('id' => 10, 'datep' => 1796000000, 'email_to' => 'jean@client.test',
				'note' => "Premier envoi.\ndolirelance: key=manual%3Aa; model=1%C3%A8re%20relance; level=1; channel=email; next=2026-12-13")),
			self::event(array('id' => 11, 'code' => 'AC_RELANCE_LETTER', 'datep' => 1796500000, 'owner_id' => 4,
				'note' => 'dolirelance: key=auto%3A42%3A2; model=2nde%20relance; level=2; channel=letter; next=2027-01-04; file=PR2611-0002_relance.pdf; auto=1; step=2')),
			self::event(array('id' => 12, 'code' => 'AC_RELANCE_REPLY', 'datep' => 1796600000,
				'note' => "De : Jean\nBien reçu.\ndolirelance: key=mail%3A1; address=jean%40client.test; file=PR2611-0002_reponse.eml; followup=auto%3A42%3A2")),
			self::event(array('id' => 13, 'code' => 'AC_RELANCE_BOUNCE', 'datep' => 1796550000,
				'note' => "La relance n'a pas pu être remise.\ndolirelance: key=mail%3A2; address=old%40client.test; followup=manual%3Aa")),
			self::event(array('id' => 14, 'code' => 'AC_OTH', 'note' => 'a meeting')),
		));
		$this->assertSame(array(12, 13, 11, 10), array_column($rows, 'event_id'));
		$this->assertSame(array('reply', 'bounce', 'followup', 'followup'), array_column($rows, 'kind'));

		$letter = $rows[2];
		$this->assertSame('letter', $letter['channel']);
		$this->assertSame('2nde relance', $letter['model']);
		$this->assertSame(2, $letter['level']);
		$this->assertSame(2, $letter['step']);
		$this->assertTrue($letter['automatic']);
		$this->assertSame('PR2611-0002_relance.pdf', $letter['file']);
		$this->assertSame(4, $letter['owner_id']);
		$this->assertSame('2027-01-04', $letter['next_date']);
		$this->assertSame('facts', $letter['next_from']);

		$email = $rows[3];
		$this->assertSame('email', $email['channel']);
		$this->assertSame('1ère relance', $email['model']);
		$this->assertFalse($email['automatic']);
		$this->assertSame('Premier envoi.', $email['note']);
		$this->assertSame('jean@client.test', $email['recipients']);

		$this->assertSame('jean@client.test', $rows[0]['address']);
		$this->assertSame('PR2611-0002_reponse.eml', $rows[0]['file']);
		$this->assertSame("De : Jean\nBien reçu.", $rows[0]['note']);
		$this->assertSame('old@client.test', $rows[1]['address']);
	}

	public function testTheOpenToDoGivesTheLatestFollowUpsNextDate(): void
	{
		$rows = DolirelanceTable::rows(array(
			self::event(array('id' => 20, 'datep' => 1796000000, 'note' => 'dolirelance: key=a; model=M; next=2026-12-13')),
			self::event(array('id' => 21, 'datep' => 1796100000, 'note' => 'dolirelance: key=b; model=M; next=2026-12-20')),
			// moved by hand in Dolibarr's agenda: the to-do says when, not the facts line
			self::event(array('id' => 30, 'code' => 'AC_RELANCE_TODO', 'percentage' => 0, 'datep' => 1798000000, 'note' => 'dolirelance: key=b; quote=PR1')),
			self::event(array('id' => 31, 'code' => 'AC_RELANCE_TODO', 'percentage' => 100, 'datep' => 1797000000, 'note' => 'dolirelance: key=a; quote=PR1')),
			// a to-do to answer the customer plans no follow-up
			self::event(array('id' => 32, 'code' => 'AC_RELANCE_TODO', 'percentage' => 0, 'datep' => 1796200000, 'note' => 'dolirelance: key=m; for=reply')),
		));
		$this->assertSame(array(21, 20), array_column($rows, 'event_id'));
		$this->assertSame(1798000000, $rows[0]['next_time']);
		$this->assertSame('todo', $rows[0]['next_from']);
		$this->assertSame(30, $rows[0]['todo_id']);
		$this->assertSame('2026-12-13', $rows[1]['next_date']);
		$this->assertNull($rows[1]['next_time']);
	}

	public function testEachQuoteOfACustomerHasItsOwnToDo(): void
	{
		$rows = DolirelanceTable::rows(array(
			self::event(array('id' => 1, 'quote_id' => 42, 'note' => 'dolirelance: key=a; next=2026-12-13')),
			self::event(array('id' => 2, 'quote_id' => 43, 'note' => 'dolirelance: key=b; next=2026-12-14')),
			self::event(array('id' => 3, 'quote_id' => 43, 'code' => 'AC_RELANCE_TODO', 'percentage' => 0, 'datep' => 1799000000)),
		));
		$byId = array_column($rows, null, 'event_id');
		$this->assertSame('facts', $byId[1]['next_from']);
		$this->assertSame('2026-12-13', $byId[1]['next_date']);
		$this->assertSame('todo', $byId[2]['next_from']);
		$this->assertSame(1799000000, $byId[2]['next_time']);
	}

	public function testABadNextDayIsLeftOut(): void
	{
		$rows = DolirelanceTable::rows(array(self::event(array('note' => 'dolirelance: key=a; next=2026-02-30'))));
		$this->assertNull($rows[0]['next_date']);
		$this->assertSame('', $rows[0]['model']);
		$this->assertSame(array(), DolirelanceTable::rows(array()));
	}
}
