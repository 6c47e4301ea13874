<?php
/* Copyright (C) 2026 dolirelance contributors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 *
 * This program is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
 * GNU General Public License for more details.
 *
 * You should have received a copy of the GNU General Public License
 * along with this program. If not, see <https://www.gnu.org/licenses/>.
 */

/**
 * \defgroup dolirelance Module Dolirelance
 * \brief    The follow-ups dolirelance records in Dolibarr, shown where sales people work.
 *
 * \file     dolirelance/core/modules/modDolirelance.class.php
 * \ingroup  dolirelance
 * \brief    Descriptor of the module: tabs, home box, menus, rights, constants.
 *
 * The module reads only Dolibarr's own data (agenda events whose code starts with AC_RELANCE,
 * proposals, third parties, users, attached files); dolirelance (a separate program) writes them.
 */
include_once DOL_DOCUMENT_ROOT.'/core/modules/DolibarrModules.class.php';

/**
 * Description and activation class for module Dolirelance
 */
class modDolirelance extends DolibarrModules
{
	/**
	 * Constructor. Define names, constants, directories, boxes, permissions
	 *
	 * @param DoliDB $db Database handler
	 */
	public function __construct($db)
	{
		global $conf;

		$this->db = $db;

		// In the range of external modules, away from the round numbers others take.
		$this->numero = 597260;
		$this->rights_class = 'dolirelance';
		$this->family = 'crm';
		$this->module_position = '90';
		$this->name = preg_replace('/^mod/i', '', get_class($this));
		$this->description = 'ModuleDolirelanceDesc';
		$this->descriptionlong = 'ModuleDolirelanceDesc';
		$this->editor_name = 'dolirelance';
		$this->editor_url = '';
		// Stamped with dolirelance's own version by `dolirelance dolibarr-module`.
		$this->version = '0.0.0-source';
		$this->const_name = 'MAIN_MODULE_'.strtoupper($this->name);
		$this->picto = 'fa-paper-plane';

		$this->module_parts = array(
			'triggers' => 0,
			'login' => 0,
			'substitutions' => 0,
			'menus' => 0,
			'tpl' => 0,
			'barcode' => 0,
			'models' => 0,
			'theme' => 0,
			'css' => array(),
			'js' => array(),
			'hooks' => array(),
			'moduleforexternal' => 0,
		);

		$this->dirs = array();
		$this->config_page_url = array('setup.php@dolirelance');

		$this->hidden = false;
		$this->depends = array('modPropale', 'modAgenda', 'modSociete');
		$this->requiredby = array();
		$this->conflictwith = array();
		$this->langfiles = array('dolirelance@dolirelance');
		$this->phpmin = array(7, 1);
		$this->need_dolibarr_version = array(18, 0);
		$this->warnings_activation = array();
		$this->warnings_activation_ext = array();

		// Kept when the module is disabled (deleteonunactive 0): re-enabling needs no new secret.
		$this->const = array(
			0 => array('DOLIRELANCE_WEB_URL', 'chaine', '', 'Address of dolirelance web pages (https://relances.example.com)', 0, 'current', 0),
			1 => array('DOLIRELANCE_SSO_SECRET', 'chaine', '', 'Secret shared with dolirelance ([web] dolibarr_sso_secret_env) to arrive signed in', 0, 'current', 0),
		);

		if (!isset($conf->dolirelance) || !isset($conf->dolirelance->enabled)) {
			$conf->dolirelance = new stdClass();
			$conf->dolirelance->enabled = 0;
		}

		$this->tabs = array(
			array('data' => 'propal:+relances:DolirelanceTabQuote:dolirelance@dolirelance:$user->hasRight(\'dolirelance\', \'read\'):/dolirelance/propal_relances.php?id=__ID__'),
			array('data' => 'thirdparty:+relancesdevis:DolirelanceTabCustomer:dolirelance@dolirelance:$user->hasRight(\'dolirelance\', \'read\'):/dolirelance/societe_relances.php?socid=__ID__'),
		);

		$this->dictionaries = array();

		$this->boxes = array(
			0 => array(
				'file' => 'box_dolirelance_todo.php@dolirelance',
				'note' => 'BoxDolirelanceTodoNote',
				'enabledbydefaulton' => 'Home',
			),
		);

		$this->cronjobs = array();

		// « Lire les relances de devis » and « Créer des relances de devis »; dolirelance reads them in
		// GET /users/info as rights.dolirelance.read and rights.dolirelance.write ([access] module_rights).
		$this->rights = array();
		$this->rights[0][0] = $this->numero.'01';
		$this->rights[0][1] = 'Read quote follow-ups';
		$this->rights[0][2] = 'r';
		$this->rights[0][3] = 1;
		$this->rights[0][4] = 'read';
		$this->rights[0][5] = '';
		$this->rights[1][0] = $this->numero.'02';
		$this->rights[1][1] = 'Create quote follow-ups';
		$this->rights[1][2] = 'w';
		$this->rights[1][3] = 0;
		$this->rights[1][4] = 'write';
		$this->rights[1][5] = '';

		// Left menu of Commercial, under Proposals. The sidecar's pages go through go.php, which signs the user in.
		$this->menu = array();
		$r = 0;
		$entries = array(
			array('DolirelanceMenuList', 'dolirelance_list', '/dolirelance/relances_list.php', 'read'),
			array('DolirelanceMenuMass', 'dolirelance_mass', '/dolirelance/go.php?to=mass', 'write'),
			array('DolirelanceMenuNew', 'dolirelance_new', '/dolirelance/go.php?to=new', 'write'),
			array('DolirelanceMenuTodo', 'dolirelance_todo', '/dolirelance/go.php?to=todo', 'read'),
			array('DolirelanceMenuReport', 'dolirelance_report', '/dolirelance/go.php?to=report', 'read'),
		);
		foreach ($entries as $entry) {
			$this->menu[$r++] = array(
				'fk_menu' => 'fk_mainmenu=commercial,fk_leftmenu=propals',
				'type' => 'left',
				'titre' => $entry[0],
				'mainmenu' => 'commercial',
				'leftmenu' => $entry[1],
				'url' => $entry[2],
				'langs' => 'dolirelance@dolirelance',
				'position' => 1100 + $r,
				'enabled' => 'isModEnabled("dolirelance")',
				'perms' => '$user->hasRight("dolirelance", "'.$entry[3].'")',
				'target' => '',
				'user' => 0,
			);
		}
	}

	/**
	 * Function called when module is enabled: constants, box, rights and menus into the database.
	 *
	 * @param  string $options Options when enabling module ('', 'noboxes')
	 * @return int             1 if OK, 0 if KO
	 */
	public function init($options = '')
	{
		$this->remove($options);
		return $this->_init(array(), $options);
	}

	/**
	 * Function called when module is disabled: its box, rights and menus out of the database.
	 *
	 * @param  string $options Options when disabling module ('', 'noboxes')
	 * @return int             1 if OK, 0 if KO
	 */
	public function remove($options = '')
	{
		return $this->_remove(array(), $options);
	}
}
