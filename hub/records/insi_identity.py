"""An identity retrieved from the national INSi teleservice (RNIV): the INS (NIR or NIA with
its authority OID) and the INS traits replace the local ones exactly as INSi returned them
(upper case), and the identity becomes ``récupérée``; the nurse's check of a high-trust identity
document on top of it makes it ``qualifiée`` (hub.consultation.checks). Nothing else sets
either status, so an identity never retrieved from INSi is never qualified."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Conflict
from hub.insi.adapter import INS_OIDS, OID_INS_NIA, InsIdentity, Traits
from hub.records.ins import name_key
from hub.records.patients import IdentityStatus, Patient, Sex
from hub.records.vigilance import FROM_INSI, Actor, set_status, trace


def traits_of(patient: Patient) -> Traits:
    """The patient's five strict traits as an INSi search sends them."""
    return Traits(
        birth_name=patient.birth_name,
        first_names=patient.first_names,
        birth_date=patient.birth_date,
        sex=patient.sex.value,
        birth_place_code=patient.birth_place_code,
    )


def carries_ins(patient: Patient) -> bool:
    """Whether the patient carries an INS obtained from INSi (what a vérification checks)."""
    return (
        patient.identity_status in FROM_INSI and bool(patient.nir) and patient.ins_oid in INS_OIDS
    )


def carried(patient: Patient) -> InsIdentity:
    """The INS the patient carries and the record's traits, as a vérification sends them."""
    if not carries_ins(patient):
        raise Conflict(
            "Ce patient ne porte pas d'INS obtenue du téléservice INSi : interrogez INSi avec "
            "ses traits d'identité."
        )
    return InsIdentity(ins=patient.nir, oid=patient.ins_oid, traits=traits_of(patient))


def _same_traits(patient: Patient, traits: Traits) -> bool:
    return (
        patient.birth_name == traits.birth_name
        and patient.first_names == traits.first_names
        and patient.birth_date == traits.birth_date
        and patient.sex.value == traits.sex
        and patient.birth_place_code == traits.birth_place_code
    )


def retrieve(
    session: AsyncSession, patient: Patient, identity: InsIdentity, *, actor: Actor
) -> None:
    """Store the identity INSi returned for this patient (one identity found), traced.

    An INS already obtained from INSi is never replaced by another one: that is for the CPTS's
    identity-vigilance referent. A qualified identity INSi confirms unchanged stays qualified;
    any other becomes ``récupérée`` and waits for the document check."""
    if patient.identity_status in FROM_INSI and patient.nir and patient.nir != identity.ins:
        raise Conflict(
            "Le téléservice INSi renvoie une INS différente de celle déjà obtenue pour ce "
            "patient : rien n'a été modifié. Signalez-le au référent identitovigilance."
        )
    unchanged = (
        patient.identity_status is IdentityStatus.QUALIFIED
        and patient.ins_oid == identity.oid
        and _same_traits(patient, identity.traits)
    )
    traits = identity.traits
    patient.nir, patient.ins_oid = identity.ins, identity.oid
    patient.birth_name, patient.birth_name_key = traits.birth_name, name_key(traits.birth_name)
    patient.first_names = traits.first_names
    patient.birth_date, patient.sex = traits.birth_date, Sex(traits.sex)
    patient.birth_place_code = traits.birth_place_code
    kind = "NIA" if identity.oid == OID_INS_NIA else "NIR"
    trace(session, actor, "identity.insi", patient.id, f"INS ({kind}) renvoyée par INSi")
    if not unchanged:
        set_status(
            session,
            patient,
            IdentityStatus.RETRIEVED,
            actor=actor,
            why="INS et traits renvoyés par le téléservice INSi",
        )
