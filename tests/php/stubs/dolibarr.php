<?php
// Just enough of Dolibarr's environment, written for these tests (not Dolibarr's code), to render the
// module's table in PHPUnit: the functions and classes lib/dolirelance.lib.php calls, with the same names
// and signatures, returning recognisable text. The real rendering is Dolibarr's; these check what the
// module passes to it and what it escapes itself.
define('DOL_DOCUMENT_ROOT', __DIR__);
define('DOL_URL_ROOT', '/dolibarr');
define('MAIN_DB_PREFIX', 'llx_');

$GLOBALS['dolirelance_test_conf'] = array();

function dol_buildpath($path, $type = 0)
{
	return '/dolibarr/custom'.$path;
}
function getDolGlobalString($key, $default = '')
{
	return isset($GLOBALS['dolirelance_test_conf'][$key]) ? $GLOBALS['dolirelance_test_conf'][$key] : $default;
}
function dol_escape_htmltag($text)
{
	return htmlspecialchars((string) $text, ENT_QUOTES | ENT_HTML5, 'UTF-8');
}
function dol_nl2br($text)
{
	return nl2br((string) $text);
}
function dol_trunc($text, $size)
{
	return mb_strlen($text) > $size ? mb_substr($text, 0, $size).'…' : $text;
}
function dol_print_date($time, $format = '', $tzoutput = 'auto')
{
	return '[date '.gmdate($format === 'dayhour' ? 'Y-m-d H:i' : 'Y-m-d', (int) $time).']';
}
function dol_mktime($hour, $minute, $second, $month, $day, $year)
{
	return gmmktime($hour, $minute, $second, $month, $day, $year);
}
function dol_sanitizeFileName($name)
{
	return preg_replace('/[^a-zA-Z0-9_.\-]/', '_', $name);
}
function img_mime($file)
{
	return '[icon]';
}
function complete_head_from_modules($conf, $langs, $object, &$head, &$h, $type, $mode = 'add')
{
}
function load_fiche_titre($title, $morehtmlright = '', $picto = 'generic')
{
	return '[title '.$title.']';
}
// The messages Dolibarr would show at the top of the page, kept for the tests to read
$GLOBALS['dolirelance_test_messages'] = array();
function setEventMessages($mesg, $mesgs, $style = 'mesgs')
{
	$GLOBALS['dolirelance_test_messages'][] = array($mesg, $style);
}

class DolirelanceTestLangs
{
	/**
	 * @param string $key Translation key
	 * @return string
	 */
	public function trans($key)
	{
		$args = array_slice(func_get_args(), 1);
		return '{'.$key.($args ? ':'.implode(',', $args) : '').'}';
	}
	/**
	 * @param string $key Translation key
	 * @return string
	 */
	public function transnoentities($key)
	{
		return call_user_func_array(array($this, 'trans'), func_get_args());
	}
}
$GLOBALS['langs'] = new DolirelanceTestLangs();

class User
{
	public $id;
	public $rights = array();
	public $socid = 0;
	/** @param mixed $db Database */
	public function __construct($db = null)
	{
	}
	/** @return int */
	public function fetch($id)
	{
		$this->id = $id;
		return 1;
	}
	/** @return string */
	public function getNomUrl($withpicto = 0)
	{
		return '[user '.$this->id.']';
	}
	/** @return bool */
	public function hasRight($module, $level1, $level2 = '')
	{
		return in_array(trim($module.'.'.$level1.'.'.$level2, '.'), $this->rights, true);
	}
}
