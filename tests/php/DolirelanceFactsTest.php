<?php
use PHPUnit\Framework\TestCase;

/**
 * The PHP reader of the facts line against the lines the Python writer produces (tests/fixtures/facts-lines.json).
 */
final class DolirelanceFactsTest extends TestCase
{
	public function testReadsEveryLineThePythonWriterWrites(): void
	{
		$fixture = dolirelance_fixture('facts-lines.json');
		$this->assertNotEmpty($fixture['written']);
		foreach ($fixture['written'] as $case) {
			$expected = array();
			foreach ($case['facts'] as $key => $value) {
				if ($value !== null) {
					$expected[$key] = (string) $value;
				}
			}
			$this->assertSame($expected, DolirelanceFacts::decode($case['line']), $case['line']);
			$this->assertSame($expected, DolirelanceFacts::decode("Une note.\n".$case['line']), $case['line']);
		}
	}

	public function testReadsNotesAsDolibarrKeepsThem(): void
	{
		$fixture = dolirelance_fixture('facts-lines.json');
		foreach ($fixture['read'] as $case) {
			$this->assertSame($case['facts'], DolirelanceFacts::decode($case['note']), $case['why']);
		}
	}

	public function testUserNoteLeavesOutTheFactsLineAndTheHtml(): void
	{
		$note = "Appel&eacute; le client, il relit.<br>\r\ndolirelance: key=manual%3Ab71c; model=2nde%20relance";
		$this->assertSame('Appelé le client, il relit.', DolirelanceFacts::userNote($note));
		$this->assertSame("Note 'urgente'", DolirelanceFacts::userNote('<p>Note &#39;urgente&#39;</p><p>dolirelance: key=a</p>'));
		$this->assertSame("De : Jean <jean@client.test>\nBien reçu.", DolirelanceFacts::userNote("De : Jean &lt;jean@client.test&gt;\nBien reçu.\ndolirelance: key=x"));
		$this->assertSame('', DolirelanceFacts::userNote(null));
	}
}
