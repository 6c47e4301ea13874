"""A French sample data set for the fake Dolibarr, relative to a given day.

Built only through ``FakeDolibarr``'s seeding methods. Quote refs take the year and month of the fake's
clock at validation (like Dolibarr's ``marbre`` numbering), so set the clock to ``today`` for refs
that match the dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from dolirelance.testing.fake import FakeDolibarr

__all__ = ["SALES_RIGHTS", "SampleData", "load_sample_data"]

SALES_RIGHTS = frozenset(
    {
        "propal.lire",
        "propal.creer",
        "societe.lire",
        "societe.client.voir",
        "societe.contact.lire",
        "agenda.myactions.read",
        "agenda.myactions.create",
        "agenda.allactions.read",
        "agenda.allactions.create",
        "user.self.creer",
    }
)


@dataclass
class SampleData:
    """What ``load_sample_data`` created, by role, so tests never hard-code ids."""

    today: date
    users: dict[str, int] = field(default_factory=dict)  # login -> id
    api_keys: dict[str, str] = field(default_factory=dict)  # login -> key
    customers: dict[str, int] = field(default_factory=dict)  # boulangerie, garage, cabinet, ferme, hotel
    contacts: dict[str, int] = field(default_factory=dict)  # jean_martin, sophie_dupont, ...
    products: dict[str, int] = field(default_factory=dict)  # audit, panneau, maintenance
    quotes: dict[str, int] = field(default_factory=dict)  # role -> proposal id
    refs: dict[str, str] = field(default_factory=dict)  # role -> proposal ref

    @property
    def open_quotes(self) -> list[str]:
        return [role for role in self.quotes if role not in ("signed", "refused", "draft")]


@dataclass(frozen=True)
class _QuotePlan:
    role: str
    customer: str
    days_ago: int
    validity_days: int
    lines: tuple[tuple[str, str, int, str], ...]  # (product or "", description, qty, unit price)
    contacts: tuple[str, ...] = ()
    closed: int | None = None  # 2 signed, 3 refused
    validated: bool = True
    with_pdf: bool = True
    opt_out: bool = False


_PLANS = (
    _QuotePlan("expired", "boulangerie", 40, 30,
               (("audit", "", 1, "850"), ("", "Déplacement", 1, "60")), ("jean_martin",)),
    _QuotePlan("about_to_expire", "garage", 27, 30,
               (("panneau", "", 12, "320"), ("maintenance", "", 1, "300")), ("sophie_dupont",)),
    _QuotePlan("not_yet_due", "cabinet", 3, 45,
               (("panneau", "", 6, "320"), ("audit", "", 1, "850")), ("claire_lefevre",)),
    _QuotePlan("no_email", "ferme", 25, 20, (("audit", "", 1, "850"),), ("luc_bernard",)),
    _QuotePlan("contact_without_email", "garage", 45, 30,
               (("", "Diagnostic électrique atelier", 1, "450"),), ("marc_petit",)),
    _QuotePlan("opt_out", "hotel", 10, 7, (("maintenance", "", 2, "300"),), ("paul_girard",), opt_out=True),
    _QuotePlan("signed", "cabinet", 60, 15, (("audit", "", 2, "850"),), ("claire_lefevre",), closed=2),
    _QuotePlan("refused", "hotel", 35, 30,
               (("panneau", "", 30, "320"), ("", "Pose et raccordement", 1, "2400")), ("paul_girard",),
               closed=3),
    _QuotePlan("draft", "boulangerie", 5, 30, (("maintenance", "", 1, "300"),),
               validated=False, with_pdf=False),
    _QuotePlan("two_contacts", "garage", 20, 30,
               (("panneau", "", 20, "320"), ("", "Onduleur hybride 8 kW", 1, "1890")),
               ("sophie_dupont", "nicolas_dupont")),
    _QuotePlan("no_pdf", "hotel", 16, 15, (("", "Étude de faisabilité toiture", 1, "640"),), ("paul_girard",),
               with_pdf=False),
)  # fmt: skip


def load_sample_data(fake: FakeDolibarr, today: date) -> SampleData:
    """Seed ``fake`` with users, our company, five customers, contacts, products and ~11 quotes."""
    sample = SampleData(today=today)

    admin = fake.admin_user
    admin.api_key = "demo-admin-key"
    admin.password = "admin"
    admin.firstname, admin.lastname = "Alain", "Martel"
    admin.email = "admin@solaire-rhone-alpes.test"
    admin.office_phone = "04 78 00 00 00"
    admin.job = "Gérant"
    admin.signature = "<p>Alain Martel<br>Gérant – Solaire Rhône-Alpes</p>"
    sales = fake.add_user(
        "jdupont",
        api_key="demo-sales-key",
        password="relance",
        rights=SALES_RIGHTS,
        firstname="Julie",
        lastname="Dupont",
        email="julie.dupont@solaire-rhone-alpes.test",
        office_phone="04 78 00 00 12",
        user_mobile="06 12 34 56 78",
        job="Chargée d'affaires",
        signature="<p>Julie Dupont<br><strong>Chargée d'affaires</strong><br>04 78 00 00 12</p>",
    )
    readonly = fake.add_user(
        "stagiaire",
        api_key="demo-readonly-key",
        password="stage",
        rights={"propal.lire"},
        firstname="Théo",
        lastname="Morel",
        email="theo.morel@solaire-rhone-alpes.test",
    )
    for user in (admin, sales, readonly):
        sample.users[user.login] = user.id
        sample.api_keys[user.login] = user.api_key

    fake.set_company(
        name="Solaire Rhône-Alpes SARL",
        address="12 rue de la République",
        zip="69002",
        town="Lyon",
        country_code="FR",
        email="contact@solaire-rhone-alpes.test",
        phone="04 78 00 00 00",
        url="https://www.solaire-rhone-alpes.test",
        idprof1="812345678",
        idprof2="81234567800019",
        idprof3="4321A",
        idprof4="Lyon B 812 345 678",
        tva_intra="FR12812345678",
        capital="50000",
        forme_juridique_code="54",
    )
    fake.add_extrafield(
        "propal", "norelance", label="Ne pas relancer automatiquement", type="boolean", pos=100
    )

    customers = {
        "boulangerie": dict(name="Boulangerie Martin", client=1, email="contact@boulangerie-martin.test",
                            address="3 place du Marché", zip="69001", town="Lyon", phone="0478000001"),
        "garage": dict(name="Garage Dupont SAS", client=1, email="accueil@garage-dupont.test",
                       address="45 avenue Jean Jaurès", zip="31000", town="Toulouse", phone="0561000002"),
        "cabinet": dict(name="Cabinet Lefèvre Architectes", client=3, email="agence@lefevre-archi.test",
                        address="8 rue Nationale", zip="59000", town="Lille"),
        "ferme": dict(name="Ferme des Trois Chênes", client=2, email=None,
                      address="Lieu-dit Les Chênes", zip="24200", town="Sarlat", phone="0553000004"),
        "hotel": dict(name="Hôtel du Lac", client=1, email="direction@hoteldulac.test",
                      address="1 quai du Lac", zip="74000", town="Annecy", default_lang="fr_FR"),
    }  # fmt: skip
    for role, fields in customers.items():
        rep = admin.id if role == "ferme" else sales.id
        thirdparty = fake.add_thirdparty(**fields, sales_rep_ids=[rep])  # type: ignore[arg-type]
        sample.customers[role] = thirdparty.id

    contacts = {
        "jean_martin": ("boulangerie", dict(lastname="Martin", firstname="Jean", civility_code="MR",
                                            email="jean.martin@boulangerie-martin.test", poste="Gérant")),
        "sophie_dupont": ("garage", dict(lastname="Dupont", firstname="Sophie", civility_code="MME",
                                         email="sophie.dupont@garage-dupont.test", poste="Directrice")),
        "marc_petit": ("garage", dict(lastname="Petit", firstname="Marc", civility_code="MR",
                                      phone_pro="0561000099", poste="Chef d'atelier")),
        "nicolas_dupont": ("garage", dict(lastname="Dupont", firstname="Nicolas", civility_code="MR",
                                          email="nicolas.dupont@garage-dupont.test", poste="Comptable")),
        "claire_lefevre": ("cabinet", dict(lastname="Lefèvre", firstname="Claire", civility_code="MME",
                                           email="claire@lefevre-archi.test", poste="Architecte associée")),
        "luc_bernard": ("ferme", dict(lastname="Bernard", firstname="Luc", civility_code="MR",
                                      phone_mobile="0612345678")),
        "paul_girard": ("hotel", dict(lastname="Girard", firstname="Paul", civility_code="MR",
                                      email="paul.girard@hoteldulac.test", poste="Directeur")),
    }  # fmt: skip
    for role, (customer, contact_fields) in contacts.items():
        lastname = contact_fields.pop("lastname")
        sample.contacts[role] = fake.add_contact(sample.customers[customer], lastname, **contact_fields).id

    products = {
        "audit": ("SRV-AUDIT", "Audit énergétique", 1, "850", "Audit énergétique complet du bâtiment"),
        "panneau": ("PRD-PV400", "Panneau solaire 400 Wc", 0, "320", ""),
        "maintenance": ("SRV-MAINT", "Contrat de maintenance annuel", 1, "300", ""),
    }
    for role, (ref, label, kind, price, description) in products.items():
        product = fake.add_product(ref, label, type=kind, price=price, tva_tx=20, description=description)
        sample.products[role] = product.id

    for plan in _PLANS:
        customer_id = sample.customers[plan.customer]
        owner = admin.id if plan.customer == "ferme" else sales.id
        proposal = fake.add_proposal(
            customer_id,
            date=today - timedelta(days=plan.days_ago),
            duree_validite=plan.validity_days,
            user_id=owner,
            note_public="Devis valable sous réserve de visite technique.",
            cond_reglement_id=1,
            mode_reglement_id=2,
        )
        for product_role, description, qty, price in plan.lines:
            product_id = sample.products[product_role] if product_role else None
            line_product = fake.products.get(product_id) if product_id else None
            fake.add_proposal_line(
                proposal.id,
                description=description,
                qty=qty,
                subprice=price,
                tva_tx=20,
                product_type=line_product.type if line_product else 1,
                fk_product=product_id,
            )
        for contact_role in plan.contacts:
            fake.link_contact(proposal.id, sample.contacts[contact_role], "CUSTOMER", "external")
        if plan.validated:
            fake.validate_proposal(proposal.id, user_id=owner)
        if plan.opt_out:
            fake.set_proposal_options(proposal.id, norelance="1")
        if plan.closed is not None:
            fake.close_proposal(proposal.id, plan.closed, user_id=owner)  # closing builds the PDF
        elif plan.with_pdf:
            fake.build_proposal_pdf(proposal.id, user_id=owner)
        sample.quotes[plan.role] = proposal.id
        sample.refs[plan.role] = proposal.ref
    return sample
