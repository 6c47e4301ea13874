<?php
// Test double of Dolibarr's Propal (tests/php/stubs/dolibarr.php says why)
class Propal
{
	const STATUS_VALIDATED = 1;
	public $id;
	public $ref;
	public $thirdparty;
	/** @param mixed $db Database */
	public function __construct($db = null)
	{
	}
	/** @return int */
	public function fetch($id, $ref = '')
	{
		if ((int) $id !== 42) {
			return 0;
		}
		$this->id = 42;
		$this->ref = 'PR2611-0002';
		return 1;
	}
	/** @return int */
	public function fetch_thirdparty()
	{
		$this->thirdparty = new class {
			/** @return string */
			public function getNomUrl($withpicto = 0)
			{
				return '[customer <Dupont & fils>]';
			}
		};
		return 1;
	}
	/** @return string */
	public function getNomUrl($withpicto = 0)
	{
		return '[quote '.$this->ref.']';
	}
}
