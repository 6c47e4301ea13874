<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/lib/main_loader.inc.php
 * \ingroup dolirelance
 * \brief   Loads Dolibarr's environment (main.inc.php) for the module's pages, wherever the module lives.
 *
 * Each page requires it first, by a path from its own folder (Dolibarr's functions do not exist yet):
 * `require __DIR__.'/lib/main_loader.inc.php';`. It must be required at the top level of the page, never
 * inside a function: main.inc.php makes $db, $user, $langs and $conf as global variables.
 *
 * The module lives in htdocs/custom/dolirelance or htdocs/dolirelance. As Dolibarr's module builder does,
 * main.inc.php is looked for in the web server's document root, then above the module's folder, then
 * above the folder the page runs in (what each page did on its own before).
 */

$dolirelanceMainFound = 0;
$dolirelanceMainPlaces = array();
if (!empty($_SERVER['CONTEXT_DOCUMENT_ROOT'])) {
	$dolirelanceMainPlaces[] = $_SERVER['CONTEXT_DOCUMENT_ROOT'].'/main.inc.php';
}
$dolirelanceMainPlaces[] = dirname(__DIR__, 2).'/main.inc.php';  // htdocs/dolirelance
$dolirelanceMainPlaces[] = dirname(__DIR__, 3).'/main.inc.php';  // htdocs/custom/dolirelance
foreach (array('../main.inc.php', '../../main.inc.php', '../../../main.inc.php', '../../../../main.inc.php') as $dolirelanceMainPlace) {
	$dolirelanceMainPlaces[] = $dolirelanceMainPlace;
}
foreach ($dolirelanceMainPlaces as $dolirelanceMainPlace) {
	if (!$dolirelanceMainFound && file_exists($dolirelanceMainPlace)) {
		$dolirelanceMainFound = @include $dolirelanceMainPlace;
	}
}
if (!$dolirelanceMainFound) {
	die('Include of main fails');
}
unset($dolirelanceMainFound, $dolirelanceMainPlaces, $dolirelanceMainPlace);
