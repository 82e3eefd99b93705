"""XDSSubmissionSet.contentTypeCode: the kind of activity a submission set comes from.

The CI-SIS binds it to the ANS value set JDV_J59-ContentTypeCode-DMP (value set OID
1.2.250.1.213.1.1.5.2; https://mos.esante.gouv.fr/NOS/JDV_J59-ContentTypeCode-DMP/FHIR/
JDV-J59-ContentTypeCode-DMP), read in ansforge/IG-terminologie-de-sante at commit
5511555a5f04363118cc12e8263c47dc2c183940, file ig/DM-37/ValueSet-JDV-J59-ContentTypeCode-DMP.json
(version 1.1.0 of 2024-02-23). It is made of:

- TRE_A00-ProducteurDocNonPS (1.2.250.1.213.1.1.4.6): EXP_PATIENT only, for the patient's own
  documents;
- TRE_R276-FormeActivite: 05, hospital at home;
- TRE_R209-TypeActivite (1.2.250.1.213.2.2): the activity types of establishments, listed in
  FINESS (03 full hospitalisation, 07 "Consultations soins externes" — a hospital's
  outpatient clinic, which the CI-SIS PDSm guide maps from PV1-2 = O or E —, 60 "Consultations
  et actes", 97 undifferentiated...);
- TRE_R02-SecteurActivite (1.2.250.1.71.4.2.4): the sectors of activity of the structures
  outside hospitals (SA05 centre de santé, SA07 cabinet individuel, SA08 cabinet de groupe,
  SA52 maison de santé, SA63 CPTS...).

None of its codes is teleconsultation or telemedicine: the telemedicine nature of the act is
carried by the document's typeCode (85208-7, "CR de télémédecine"). The rooms are run by a CPTS
for ambulatory care, outside any establishment, and the documents already name the CPTS's
sector, SA63, as their healthcareFacilityTypeCode (``cda.FACILITY_TYPE``): the submission set
says the same sector, under the label the value set gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

OID_TRE_R02 = "1.2.250.1.71.4.2.4"  # TRE_R02-SecteurActivite (= cda.OID_FACILITY_TYPE)


@dataclass(frozen=True, slots=True)
class ContentType:
    """One code of JDV_J59: the code, its display in the value set, its code system's OID."""

    code: str
    display: str
    coding_scheme: str


# SA63, as JDV_J59 (above) lists it among TRE_R02's codes.
CPTS = ContentType("SA63", "Communauté Professionnelle Territoriale de Santé", OID_TRE_R02)
