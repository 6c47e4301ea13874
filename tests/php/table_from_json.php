<?php
// Reads event rows (JSON) on stdin, prints DolirelanceTable::rows() as JSON: tests/test_dolibarr_module.py
// feeds it the events the Python side really wrote into the fake Dolibarr.
require __DIR__.'/bootstrap.php';
$events = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
echo json_encode(DolirelanceTable::rows($events), JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE), "\n";
