<?php
// The module's classes that need no Dolibarr, and the fixtures shared with the Python tests.
error_reporting(E_ALL);
define('DOLIRELANCE_MODULE_DIR', dirname(__DIR__, 2).'/src/dolirelance/dolibarr_module/dolirelance');
define('DOLIRELANCE_FIXTURES', dirname(__DIR__).'/fixtures');
require_once DOLIRELANCE_MODULE_DIR.'/class/DolirelanceFacts.php';
require_once DOLIRELANCE_MODULE_DIR.'/class/DolirelanceToken.php';
require_once DOLIRELANCE_MODULE_DIR.'/class/DolirelanceTable.php';

/**
 * A fixture file of tests/fixtures, decoded.
 *
 * @param  string $name File name
 * @return array<string,mixed>
 */
function dolirelance_fixture($name)
{
	return json_decode(file_get_contents(DOLIRELANCE_FIXTURES.'/'.$name), true, 512, JSON_THROW_ON_ERROR);
}
