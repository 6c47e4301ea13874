<?php
use PHPUnit\Framework\TestCase;

/**
 * The module's pages' common parts (lib/dolirelance.lib.php) over test doubles of Dolibarr's classes
 * (stubs/): what they ask ActionComm for, what the table shows and escapes, the buttons.
 *
 * @runTestsInSeparateProcesses
 * @preserveGlobalState disabled
 */
final class DolirelanceLibTest extends TestCase
{
	protected function setUp(): void
	{
		require_once __DIR__.'/stubs/dolibarr.php';
		require_once DOLIRELANCE_MODULE_DIR.'/lib/dolirelance.lib.php';
	}

	/**
	 * @param  array<string,mixed> $fields ActionComm properties
	 * @return ActionComm
	 */
	private static function event(array $fields)
	{
		$event = new ActionComm();
		foreach (array_merge(array('percentage' => 100, 'socid' => 9, 'userownerid' => 3, 'email_to' => '',
			'elementtype' => 'propal', 'fk_element' => 42, 'note_private' => ''), $fields) as $name => $value) {
			$event->$name = $value;
		}
		return $event;
	}

	public function testEventRowsAskForTheFollowUpEventsTheUserMaySee(): void
	{
		ActionComm::$events = array(self::event(array('id' => 7, 'code' => 'AC_RELANCE_EMAIL', 'datep' => 1796000000,
			'note_private' => 'dolirelance: key=a', 'email_to' => 'jean@client.test')));
		$user = new User();
		$user->id = 5;
		$user->rights = array('agenda.allactions.read');
		$rows = dolirelanceEventRows(null, $user, 0, 42);
		$this->assertSame(array(array('id' => 7, 'code' => 'AC_RELANCE_EMAIL', 'datep' => 1796000000, 'percentage' => 100,
			'note' => 'dolirelance: key=a', 'quote_id' => 42, 'socid' => 9, 'owner_id' => 3, 'email_to' => 'jean@client.test')), $rows);
		list($socid, $element, $type, $filter) = ActionComm::$calls[0];
		$this->assertSame(array(0, 42, 'propal'), array($socid, $element, $type));
		$this->assertStringContainsString("a.code LIKE 'AC\\_RELANCE%'", $filter);
		// without societe.client.voir: only the customers the user represents
		$this->assertStringContainsString('llx_societe_commerciaux as sc WHERE sc.fk_user = 5', $filter);
		$this->assertStringNotContainsString('fk_user_action', $filter);  // agenda.allactions.read: every owner

		$user->rights = array('societe.client.voir');
		dolirelanceEventRows(null, $user, 9, 0);
		list($socid, $element, $type, $filter) = ActionComm::$calls[1];
		$this->assertSame(array(9, 0, ''), array($socid, $element, $type));
		$this->assertStringContainsString('(a.fk_user_action = 5 OR a.fk_user_author = 5)', $filter);
		$this->assertStringContainsString("a.elementtype = 'propal'", $filter);
		$this->assertStringNotContainsString('societe_commerciaux', $filter);
	}

	public function testTheTableShowsEachColumnAndEscapesWhatPeopleWrote(): void
	{
		$rows = DolirelanceTable::rows(array(
			array('id' => 7, 'code' => 'AC_RELANCE_LETTER', 'datep' => 1796000000, 'percentage' => 100, 'quote_id' => 42,
				'owner_id' => 3, 'note' => "<b>x</b> &lt;script&gt;alert(1)&lt;/script&gt;\ndolirelance: key=a; model=1%C3%A8re%20%3Cb%3E; channel=letter; next=2026-12-13; file=PR2611-0002_relance.pdf; auto=1; step=2"),
			array('id' => 8, 'code' => 'AC_RELANCE_BOUNCE', 'datep' => 1796100000, 'percentage' => 100, 'quote_id' => 42,
				'owner_id' => 3, 'note' => 'dolirelance: key=m; address=%3Cjean%3E%40client.test'),
		));
		$html = dolirelanceTableHtml(null, $rows, true);
		$this->assertStringNotContainsString('<script>', $html);
		$this->assertStringNotContainsString('<b>', $html);
		$this->assertStringContainsString('1ère &lt;b&gt;', $html);  // the model, escaped
		$this->assertStringContainsString('&lt;script&gt;alert(1)&lt;/script&gt;', $html);
		$this->assertStringContainsString('{DolirelanceByLetter} ({DolirelanceAutomaticStep:2})', $html);
		$this->assertStringContainsString('{DolirelanceBounce:&lt;jean&gt;@client.test}', $html);
		$this->assertStringContainsString('[date 2026-12-13]', $html);
		$this->assertStringContainsString('[quote PR2611-0002]', $html);
		$this->assertStringContainsString('[user 3]', $html);
		$this->assertStringContainsString('[event 7]', $html);
		$this->assertStringContainsString('href="/dolibarr/document.php?modulepart=propal&file=PR2611-0002%2FPR2611-0002_relance.pdf"', $html);
		$this->assertSame(2, substr_count($html, '<tr class="oddeven">'));
		$this->assertSame(10, substr_count($html, '<th'));
		$this->assertSame(8, substr_count(dolirelanceTableHtml(null, array(), false), '<th'));
		$this->assertStringContainsString('{DolirelanceNone}', dolirelanceTableHtml(null, array(), false));
	}

	public function testATabShowsItsFollowUpsOrDolibarrsErrorAboveAnEmptyTable(): void
	{
		$rows = array(array('id' => 7, 'code' => 'AC_RELANCE_EMAIL', 'datep' => 1796000000, 'percentage' => 100,
			'quote_id' => 42, 'owner_id' => 3, 'note' => 'dolirelance: key=a; channel=email'));
		$shown = dolirelanceFollowUpsTab(null, $rows, false);
		$this->assertStringStartsWith('[title {DolirelanceFollowUps}]', $shown);
		$this->assertSame(1, substr_count($shown, '<tr class="oddeven">'));
		$this->assertSame(8, substr_count($shown, '<th'));  // no quote and customer columns on the quote's card
		$this->assertSame(array(), $GLOBALS['dolirelance_test_messages']);

		$failed = dolirelanceFollowUpsTab(null, 'Error DB_ERROR_NOSUCHTABLE', true);
		$this->assertSame(array(array('Error DB_ERROR_NOSUCHTABLE', 'errors')), $GLOBALS['dolirelance_test_messages']);
		$this->assertStringStartsWith('[title {DolirelanceFollowUps}]', $failed);
		$this->assertStringContainsString('{DolirelanceNone}', $failed);
		$this->assertSame(10, substr_count($failed, '<th'));
	}

	public function testButtonsGoThroughGoPhpAndFollowTheRights(): void
	{
		$user = new User();
		$this->assertStringContainsString('{DolirelanceNoUrl}', dolirelanceButtons($user, 42));

		$GLOBALS['dolirelance_test_conf']['DOLIRELANCE_WEB_URL'] = 'https://relances.example.test';
		$user->rights = array('dolirelance.read');
		$reader = dolirelanceButtons($user, 42);
		$this->assertStringContainsString('href="/dolibarr/custom/dolirelance/go.php?to=preview&amp;id=42"', $reader);
		$this->assertSame(2, substr_count($reader, 'butActionRefused'));  // e-mail and letter: not without the right

		$user->rights = array('dolirelance.read', 'dolirelance.write');
		$sender = dolirelanceButtons($user, 42);
		$this->assertStringNotContainsString('butActionRefused', $sender);
		foreach (array('email', 'letter', 'preview') as $target) {
			$this->assertStringContainsString('go.php?to='.$target.'&amp;id=42', $sender);
		}
		$this->assertStringNotContainsString('relances.example.test', $sender);  // the token is made on click, in go.php
	}
}
