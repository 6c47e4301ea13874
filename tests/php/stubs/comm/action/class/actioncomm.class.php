<?php
// Test double of Dolibarr's ActionComm (tests/php/stubs/dolibarr.php says why)
class ActionComm
{
	public $id;
	public $ref;
	public $code;
	public $datep;
	public $percentage;
	public $note;
	public $note_private;
	public $socid;
	public $userownerid;
	public $email_to;
	public $elementtype;
	public $fk_element;
	/** @var array<int,array> the filters getActions was called with */
	public static $calls = array();
	/** @var array<int,ActionComm> what getActions answers */
	public static $events = array();
	/** @param mixed $db Database */
	public function __construct($db = null)
	{
	}
	/** @return array<int,ActionComm>|string */
	public function getActions($socid = 0, $fk_element = 0, $elementtype = '', $filter = '', $sortfield = 'a.datep', $sortorder = 'DESC', $limit = 0)
	{
		self::$calls[] = array($socid, $fk_element, $elementtype, $filter, $sortfield, $sortorder, $limit);
		return self::$events;
	}
	/** @return string */
	public function getNomUrl($withpicto = 0, $maxlength = 0)
	{
		return '[event '.$this->ref.']';
	}
}
