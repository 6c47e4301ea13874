<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 */

/**
 * \file    dolirelance/core/boxes/box_dolirelance_todo.php
 * \ingroup dolirelance
 * \brief   Home box « Suivi relances devis »: the logged-in user's next follow-ups to do.
 */

include_once DOL_DOCUMENT_ROOT.'/core/boxes/modules_boxes.php';

/**
 * The user's open AC_RELANCE_TODO events, the earliest first
 */
class box_dolirelance_todo extends ModeleBoxes
{
	public $boxcode = 'dolirelancetodo';
	public $boximg = 'object_action';
	public $boxlabel = 'BoxDolirelanceTodo';
	public $depends = array('agenda', 'propal');

	/**
	 * Constructor
	 *
	 * @param DoliDB $db     Database handler
	 * @param string $param  More parameters
	 */
	public function __construct($db, $param = '')
	{
		global $user;

		$this->db = $db;
		$this->hidden = !(isModEnabled('dolirelance') && $user->hasRight('dolirelance', 'read') && $user->hasRight('agenda', 'myactions', 'read'));
	}

	/**
	 * Load the box's lines
	 *
	 * @param  int  $max Maximum number of lines
	 * @return void
	 */
	public function loadBox($max = 5)
	{
		global $user, $langs;

		$langs->loadLangs(array('agenda', 'propal', 'dolirelance@dolirelance'));
		require_once DOL_DOCUMENT_ROOT.'/comm/action/class/actioncomm.class.php';
		require_once DOL_DOCUMENT_ROOT.'/comm/propal/class/propal.class.php';
		require_once DOL_DOCUMENT_ROOT.'/societe/class/societe.class.php';

		$this->max = $max;
		$this->info_box_head = array('text' => $langs->trans('BoxDolirelanceTodoTitle', $max));

		$actioncomm = new ActionComm($this->db);
		$filter = " AND a.code = 'AC_RELANCE_TODO' AND a.percent >= 0 AND a.percent < 100 AND a.fk_user_action = ".((int) $user->id);
		$events = $actioncomm->getActions(0, 0, '', $filter, 'a.datep', 'ASC', $max);
		if (!is_array($events)) {
			$this->info_box_contents[0][0] = array('td' => '', 'maxlength' => 500, 'text' => dol_escape_htmltag($events));
			return;
		}
		$now = dol_now();
		$line = 0;
		foreach ($events as $event) {
			$quote = null;
			if ($event->elementtype == 'propal' && $event->fk_element > 0) {
				$quote = new Propal($this->db);
				if ($quote->fetch($event->fk_element) <= 0) {
					$quote = null;
				}
			}
			$customer = null;
			if ($event->socid > 0) {
				$customer = new Societe($this->db);
				if ($customer->fetch($event->socid) <= 0) {
					$customer = null;
				}
			}
			$this->info_box_contents[$line][] = array(
				'td' => 'class="nowraponall"',
				'text' => $quote ? $quote->getNomUrl(1) : $event->getNomUrl(1),
				'asis' => 1,
			);
			$this->info_box_contents[$line][] = array(
				'td' => 'class="tdoverflowmax150"',
				'text' => $customer ? $customer->getNomUrl(1) : '',
				'asis' => 1,
			);
			$late = ($event->datep < $now) ? ' '.img_warning($langs->trans('Late')) : '';
			$this->info_box_contents[$line][] = array(
				'td' => 'class="center nowraponall"',
				'text' => dol_print_date($event->datep, 'day', 'tzuser').$late,
				'asis' => 1,
			);
			$this->info_box_contents[$line][] = array(
				'td' => 'class="right nowraponall"',
				'text' => $event->getNomUrl(0, -1, '', '', 0, 0, 0).' '.$event->getLibStatut(3),
				'asis' => 1,
			);
			$line++;
		}
		if ($line == 0) {
			$this->info_box_contents[0][0] = array(
				'td' => 'class="center"',
				'text' => '<span class="opacitymedium">'.$langs->trans('BoxDolirelanceTodoNone').'</span>',
				'asis' => 1,
			);
		}
	}

	/**
	 * Show the box
	 *
	 * @param  array|null $head     Array with properties of box title
	 * @param  array|null $contents Array with properties of box lines
	 * @param  int        $nooutput No print, only return string
	 * @return string
	 */
	public function showBox($head = null, $contents = null, $nooutput = 0)
	{
		return parent::showBox($this->info_box_head, $this->info_box_contents, $nooutput);
	}
}
