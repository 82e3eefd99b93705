"""Who may do what: one table of permissions, each granted to roles with a scope, and one table
saying which permission every route of the hub needs.

Scopes:

- ``CPTS``: everything of the user's CPTS (organisation). Coordinators act CPTS-wide.
- ``SITE``: a resource that happens at one of the sites the user acts for (a booking, a
  consultation, a cabin, a relayed report of a consultation held there).
- ``CARE``: a patient with whom the user has a care relationship through their sites: the
  patient has a booking (not cancelled) at one of the user's sites. A patient followed nowhere
  yet (just registered, no booking) is in no site's care: every user holding the permission
  reaches them, so the secretary who registers a caller sees and corrects what she typed.

Patients belong to the CPTS, not to a site. A secretary finds any caller of her CPTS by name,
birth date or phone and books them on a slot of a site she acts for (``FIND_PATIENT`` is CPTS-wide,
``BOOK`` checks the slot's site); the patient's file beyond identity — booking history, no-shows,
médecin traitant and its secure address, and editing it or the patient's contact — needs
``PATIENT_FILE``, a care relationship through her sites. The list of relayed reports shows a
secretary only the relays of consultations held at her sites; a coordinator sees and resends
them CPTS-wide.

Routes take the signed-in user through ``hub.deps.Permitted``, which refuses a role the route's
permission does not grant; once the route (or a service) has loaded the resource, ``check`` refuses
a user whose scope does not reach it. Routes that need no staff account (public pages, the
patient's signed links, the SAS platform's bearer tokens, cabin agents' tokens) are in ``ROUTES``
too, under a permission that grants no role.

This module imports no other slice, nor the request plumbing (``hub.deps`` asks it): callers
pass the sites a resource belongs to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum

from fastapi import Request

from hub.errors import Forbidden
from hub.identity.models import Role, User

ROLE_REFUSED = "Cette page n'est pas accessible avec votre rôle."
SITE_REFUSED = "Cette page concerne un site pour lequel vous n'agissez pas."
CARE_REFUSED = (
    "Ce patient n'est suivi sur aucun site pour lequel vous agissez : "
    "son dossier ne vous est pas accessible."
)
UNLISTED_ROUTE = "Cette page n'a pas de règle d'accès : elle reste fermée."


class Scope(StrEnum):
    CPTS = "cpts"
    SITE = "site"
    CARE = "care"

    @property
    def label(self) -> str:
        return SCOPE_LABELS[self]


SCOPE_LABELS = {
    Scope.CPTS: "toute la CPTS",
    Scope.SITE: "ses sites",
    Scope.CARE: "les patients suivis sur ses sites",
}


class Permission(StrEnum):
    # Without a staff account: the route authenticates its caller otherwise, or is open.
    PUBLIC = "public"  # login, online booking, health check, API docs, static files
    PATIENT_LINK = "patient_link"  # the signed link a patient received (booking, record)
    # The one-time link of a third party invited into a consultation (bound to one browser).
    GUEST_LINK = "guest_link"
    API_CLIENT = "api_client"  # the SAS platform's bearer token (FHIR)
    CABIN_AGENT = "cabin_agent"  # a cabin agent's token (WebSocket)
    # Staff.
    SIGNED_IN = "signed_in"  # one's own account, the cabins of one's sites, live events
    ADMINISTER = "administer"  # sites, schedules, booking rules, cabins, accounts, journal
    INDICATORS = "indicators"  # the CPTS's indicators and yearly report
    # Search, register a caller, see their identity; send them a new link to their record or
    # disable their links (the link goes to the patient's own address: nothing is disclosed).
    FIND_PATIENT = "find_patient"
    # Resolve pending identities and merge duplicates: the CPTS's identity vigilance.
    IDENTITY_VIGILANCE = "identity_vigilance"
    # A patient's history and médecin traitant, read and edit; their contact (mobile, e-mail).
    PATIENT_FILE = "patient_file"
    BOOK = "book"  # book a patient by phone on a slot of one's sites
    MANAGE_BOOKING = "manage_booking"  # a booking's summary, cancel, refer to a relay doctor
    RELAYS = "relays"  # the reports relayed to doctors, resend a failed one
    AGENDA = "agenda"  # the day's agenda, mark a no-show
    FACILITY_BOOKING = "facility_booking"  # book residents on the facility's reserved slots
    ROOM = "room"  # welcome the patient, identity, consent, pre-consultation, emergency
    TELECONSULT = "teleconsult"  # the waiting room, join, the report
    CONSULTATION_DATA = "consultation_data"  # a consultation's measurements, snapshots, report
    COMMAND_CABIN = "command_cabin"  # ask a cabin's device to measure
    SHARED_RECORD = "shared_record"  # the shared record (DMP-style) of one's patients
    DISCLOSE = "disclose"  # tell the patient a document is now visible


_SITE_CLINICIANS = {
    Role.NURSE: Scope.SITE,
    Role.DOCTOR: Scope.SITE,
    Role.FACILITY_STAFF: Scope.SITE,
}

# Permission → the roles it is granted to, each with its scope. Permissions absent from this
# table (PUBLIC, PATIENT_LINK, GUEST_LINK, API_CLIENT, CABIN_AGENT) grant no staff role anything.
GRANTS: Mapping[Permission, Mapping[Role, Scope]] = {
    Permission.SIGNED_IN: {
        Role.COORDINATOR: Scope.CPTS,
        Role.SECRETARY: Scope.SITE,
        Role.NURSE: Scope.SITE,
        Role.DOCTOR: Scope.SITE,
        Role.FACILITY_STAFF: Scope.SITE,
    },
    Permission.ADMINISTER: {Role.COORDINATOR: Scope.CPTS},
    Permission.INDICATORS: {Role.COORDINATOR: Scope.CPTS},
    Permission.FIND_PATIENT: {Role.SECRETARY: Scope.CPTS},
    Permission.IDENTITY_VIGILANCE: {Role.SECRETARY: Scope.CPTS},
    Permission.PATIENT_FILE: {Role.SECRETARY: Scope.CARE},
    Permission.BOOK: {Role.SECRETARY: Scope.SITE},
    Permission.MANAGE_BOOKING: {Role.SECRETARY: Scope.SITE},
    Permission.RELAYS: {Role.SECRETARY: Scope.SITE, Role.COORDINATOR: Scope.CPTS},
    Permission.AGENDA: {Role.NURSE: Scope.SITE},
    Permission.FACILITY_BOOKING: {Role.FACILITY_STAFF: Scope.SITE},
    Permission.ROOM: {Role.NURSE: Scope.SITE, Role.FACILITY_STAFF: Scope.SITE},
    Permission.TELECONSULT: {Role.DOCTOR: Scope.SITE},
    Permission.CONSULTATION_DATA: _SITE_CLINICIANS,
    Permission.COMMAND_CABIN: _SITE_CLINICIANS,
    Permission.SHARED_RECORD: {
        Role.NURSE: Scope.CARE,
        Role.DOCTOR: Scope.CARE,
        Role.FACILITY_STAFF: Scope.CARE,
    },
    Permission.DISCLOSE: {Role.DOCTOR: Scope.CARE},
}

P = Permission
# (method, path) → the permission the route needs. "WS" for WebSockets; a mount by its prefix.
# Every route of the application is here (tests/hub/test_access.py checks it).
ROUTES: Mapping[tuple[str, str], Permission] = {
    # Open to all, or authenticated otherwise.
    ("GET", "/"): P.PUBLIC,
    ("GET", "/healthz"): P.PUBLIC,
    ("GET", "/static"): P.PUBLIC,
    ("GET", "/api/openapi.json"): P.PUBLIC,
    ("GET", "/api/docs"): P.PUBLIC,
    ("GET", "/api/docs/assets"): P.PUBLIC,
    ("GET", "/connexion"): P.PUBLIC,
    ("POST", "/connexion"): P.PUBLIC,
    ("POST", "/deconnexion"): P.PUBLIC,
    ("GET", "/rdv"): P.PUBLIC,
    ("GET", "/rdv/{slug}"): P.PUBLIC,
    ("GET", "/rdv/{slug}/creneau/{slot_id}"): P.PUBLIC,
    ("POST", "/rdv/{slug}/creneau/{slot_id}"): P.PUBLIC,
    # The same form reached from the slot's link in the SAS search (a signed token).
    ("GET", "/rdv/{slug}/sas/creneau/{slot_id}"): P.PUBLIC,
    ("POST", "/rdv/{slug}/sas/creneau/{slot_id}"): P.PUBLIC,
    ("GET", "/rdv/suivi/{token}"): P.PATIENT_LINK,
    ("POST", "/rdv/suivi/{token}/confirmer"): P.PATIENT_LINK,
    ("POST", "/rdv/suivi/{token}/annuler"): P.PATIENT_LINK,
    ("POST", "/rdv/suivi/{token}/attente"): P.PATIENT_LINK,
    ("POST", "/rdv/suivi/{token}/deplacer"): P.PATIENT_LINK,
    ("GET", "/rdv/proposition/{token}"): P.PATIENT_LINK,
    ("POST", "/rdv/proposition/{token}/accepter"): P.PATIENT_LINK,
    ("POST", "/rdv/proposition/{token}/refuser"): P.PATIENT_LINK,
    ("GET", "/mon-dossier/{token}"): P.PATIENT_LINK,
    ("GET", "/mon-dossier/{token}/documents/{document_id}.pdf"): P.PATIENT_LINK,
    ("POST", "/mon-dossier/{token}/documents/{document_id}/masquage"): P.PATIENT_LINK,
    ("GET", "/mon-dossier/{token}/desactivation"): P.PATIENT_LINK,
    ("POST", "/mon-dossier/{token}/desactivation"): P.PATIENT_LINK,
    ("GET", "/invitation/{token}"): P.GUEST_LINK,
    ("POST", "/invitation/{token}/rejoindre"): P.GUEST_LINK,
    ("POST", "/invitation/{token}/quitter"): P.GUEST_LINK,
    ("GET", "/invitation/{token}/etat"): P.GUEST_LINK,
    ("GET", "/fhir/Slot"): P.API_CLIENT,
    ("POST", "/fhir/Appointment"): P.API_CLIENT,
    ("GET", "/fhir/Appointment/{appointment_id}"): P.API_CLIENT,
    ("GET", "/fhir/Slot/{slot_id}"): P.API_CLIENT,
    ("PUT", "/fhir/Appointment"): P.API_CLIENT,
    ("GET", "/fhir/metadata"): P.PUBLIC,  # a FHIR server's capabilities are public
    ("WS", "/agent/ws"): P.CABIN_AGENT,
    # Every member of staff.
    ("GET", "/api/v1/moi"): P.SIGNED_IN,
    ("GET", "/api/v1/cabines"): P.SIGNED_IN,
    ("GET", "/api/v1/evenements"): P.SIGNED_IN,
    # Coordination.
    ("GET", "/coordination"): P.ADMINISTER,
    ("POST", "/coordination/cabines"): P.ADMINISTER,
    ("POST", "/coordination/cabines/{cabin_id}/jeton"): P.ADMINISTER,
    ("POST", "/coordination/cabines/{cabin_id}/revoquer"): P.ADMINISTER,
    ("GET", "/coordination/sites/{site_id}/horaires"): P.ADMINISTER,
    ("POST", "/coordination/sites/{site_id}/horaires"): P.ADMINISTER,
    ("POST", "/coordination/sites/{site_id}/horaires/{rule_id}/supprimer"): P.ADMINISTER,
    ("POST", "/coordination/sites/{site_id}/fermetures"): P.ADMINISTER,
    ("POST", "/coordination/sites/{site_id}/fermetures/{closure_id}/supprimer"): P.ADMINISTER,
    ("POST", "/coordination/politique"): P.ADMINISTER,
    ("GET", "/coordination/medecins-relais"): P.ADMINISTER,
    ("POST", "/coordination/medecins-relais"): P.ADMINISTER,
    ("POST", "/coordination/medecins-relais/{doctor_id}/disponibilite"): P.ADMINISTER,
    ("GET", "/coordination/indicateurs"): P.INDICATORS,
    ("GET", "/coordination/indicateurs.csv"): P.INDICATORS,
    ("GET", "/coordination/rapport-annuel"): P.INDICATORS,
    ("POST", "/coordination/rapport-annuel"): P.INDICATORS,
    ("GET", "/coordination/rapport-annuel.pdf"): P.INDICATORS,
    # Secretariat.
    ("GET", "/secretariat"): P.BOOK,
    ("POST", "/secretariat/patients"): P.FIND_PATIENT,
    ("GET", "/secretariat/patients/{patient_id}"): P.FIND_PATIENT,
    ("POST", "/secretariat/patients/{patient_id}/lien-dossier"): P.FIND_PATIENT,
    ("POST", "/secretariat/patients/{patient_id}/lien-dossier/desactivation"): P.FIND_PATIENT,
    ("POST", "/secretariat/patients/{patient_id}/medecin-traitant"): P.PATIENT_FILE,
    ("POST", "/secretariat/patients/{patient_id}/coordonnees"): P.PATIENT_FILE,
    ("POST", "/secretariat/patients/{patient_id}/rdv"): P.BOOK,
    ("GET", "/secretariat/rdv/{booking_id}"): P.MANAGE_BOOKING,
    ("POST", "/secretariat/rdv/{booking_id}/annuler"): P.MANAGE_BOOKING,
    ("POST", "/secretariat/rdv/{booking_id}/deplacer"): P.MANAGE_BOOKING,
    ("POST", "/secretariat/rdv/{booking_id}/medecin-relais"): P.MANAGE_BOOKING,
    ("GET", "/secretariat/identites"): P.IDENTITY_VIGILANCE,
    ("POST", "/secretariat/identites/{pending_id}"): P.IDENTITY_VIGILANCE,
    ("POST", "/secretariat/doublons"): P.IDENTITY_VIGILANCE,
    ("GET", "/secretariat/identites/patients/{patient_id}"): P.IDENTITY_VIGILANCE,
    ("POST", "/secretariat/identites/patients/{patient_id}/insi"): P.IDENTITY_VIGILANCE,
    ("GET", "/secretariat/transmissions"): P.RELAYS,
    ("GET", "/secretariat/transmissions/non-rattaches"): P.RELAYS,
    ("POST", "/secretariat/transmissions/{message_id}/renvoyer"): P.RELAYS,
    # Nurse, facility staff: the agenda and the room.
    ("GET", "/infirmier"): P.AGENDA,
    ("POST", "/infirmier/rdv/{booking_id}/non-honore"): P.AGENDA,
    ("GET", "/etablissement"): P.FACILITY_BOOKING,
    ("POST", "/etablissement/rdv"): P.FACILITY_BOOKING,
    ("POST", "/salle/rdv/{booking_id}/accueil"): P.ROOM,
    ("GET", "/salle/consultations/{consultation_id}"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/identite"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/insi"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/identite-en-attente"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/consentement"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/kit"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/preconsultation"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/etat"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/urgence"): P.ROOM,
    ("POST", "/salle/consultations/{consultation_id}/medecin-relais"): P.ROOM,
    ("WS", "/ws/consultations/{consultation_id}/room"): P.ROOM,
    ("GET", "/api/v1/consultations/{consultation_id}/visio-tiers/salle"): P.ROOM,
    # Doctor.
    ("GET", "/medecin"): P.TELECONSULT,
    ("POST", "/medecin/consultations/{consultation_id}/rejoindre"): P.TELECONSULT,
    ("GET", "/medecin/consultations/{consultation_id}"): P.TELECONSULT,
    ("POST", "/medecin/consultations/{consultation_id}/etat"): P.TELECONSULT,
    ("POST", "/medecin/consultations/{consultation_id}/compte-rendu"): P.TELECONSULT,
    (
        "POST",
        "/medecin/consultations/{consultation_id}/compte-rendu/nouvelle-version",
    ): P.TELECONSULT,
    ("POST", "/medecin/consultations/{consultation_id}/tiers"): P.TELECONSULT,
    ("POST", "/medecin/consultations/{consultation_id}/tiers/{guest_id}/retirer"): P.TELECONSULT,
    ("GET", "/api/v1/consultations/{consultation_id}/visio-tiers"): P.TELECONSULT,
    ("POST", "/api/v1/consultations/{consultation_id}/captures"): P.TELECONSULT,
    ("WS", "/ws/consultations/{consultation_id}/media"): P.TELECONSULT,
    # Clinicians of the consultation's site.
    ("GET", "/api/v1/consultations/{consultation_id}/mesures"): P.CONSULTATION_DATA,
    ("GET", "/api/v1/captures/{capture_id}"): P.CONSULTATION_DATA,
    ("GET", "/comptes-rendus/{report_id}.pdf"): P.CONSULTATION_DATA,
    ("POST", "/api/v1/cabines/{cabin_id}/commandes"): P.COMMAND_CABIN,
    # The shared record of the patients in care.
    ("GET", "/dossier-partage/patients/{patient_id}"): P.SHARED_RECORD,
    ("POST", "/dossier-partage/patients/{patient_id}/lien-dossier/desactivation"): P.SHARED_RECORD,
    ("GET", "/dossier-partage/documents/{document_id}.pdf"): P.SHARED_RECORD,
    ("GET", "/dossier-partage/documents/{document_id}.xml"): P.SHARED_RECORD,
    ("POST", "/dossier-partage/documents/{document_id}/annonce"): P.DISCLOSE,
}


def roles_for(permission: Permission) -> frozenset[Role]:
    """The roles a permission is granted to (none for the routes without a staff account)."""
    return frozenset(GRANTS.get(permission, {}))


def scope_of(user: User, permission: Permission) -> Scope | None:
    """How far the user's role reaches with this permission; None if it is not granted."""
    return GRANTS.get(permission, {}).get(user.role)


def site_ids_of(user: User) -> frozenset[int]:
    """The sites a user acts for (loaded with the user)."""
    return frozenset(site.id for site in user.sites)


def sites_in_reach(user: User, permission: Permission) -> frozenset[int] | None:
    """The sites whose resources this permission reaches for the user: None for every site of
    their CPTS; an empty set if it is not granted."""
    scope = scope_of(user, permission)
    if scope is Scope.CPTS:
        return None
    return site_ids_of(user) if scope is not None else frozenset()


def allows(user: User, permission: Permission, *, sites: Collection[int]) -> bool:
    """Whether the user may use this permission on a resource of these sites (the site of a
    booking, a consultation or a cabin; for a patient, the sites where they are in care, none
    if they are followed nowhere yet)."""
    scope = scope_of(user, permission)
    if scope is None:
        return False
    if scope is Scope.CPTS or (scope is Scope.CARE and not sites):
        return True
    return not site_ids_of(user).isdisjoint(sites)


def check(
    user: User, permission: Permission, *, sites: Collection[int], refusal: str | None = None
) -> None:
    """Raise Forbidden unless ``allows``; ``refusal`` says in words what is out of reach."""
    if allows(user, permission, sites=sites):
        return
    scope = scope_of(user, permission)
    if scope is None:
        raise Forbidden(ROLE_REFUSED)
    raise Forbidden(refusal or (CARE_REFUSED if scope is Scope.CARE else SITE_REFUSED))


def route_permission(request: Request) -> Permission | None:
    """The permission the matched route needs, None if the route is not in ``ROUTES``."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    return ROUTES.get((request.method.upper(), path))


__all__ = [
    "GRANTS",
    "ROUTES",
    "Permission",
    "Scope",
    "allows",
    "check",
    "roles_for",
    "scope_of",
    "sites_in_reach",
]
