"""The ANS SAS guide's CPTS example resources, transcribed from its FSH as SUSHI renders them.

Sources (ans-sas/fsh/examples/): CPTS/example-slotcpts1.fsh, CPTS/example-healthcareservicecpts1
.fsh, CPTS/example-orgacpts1.fsh, CPTS/example-bundlecpts1.fsh, PS Indiv/example-schedule.fsh.
SUSHI adds ``resourceType``, ``id`` and ``meta.profile`` (the instance's profile); the fixed
values of the profiles (Slot.status = free, Bundle.type = searchset, the Organization's
identifier type and system) are added as SUSHI does. Nothing here goes beyond the FSH. The
example Bundle's Practitioner and PractitionerRole entries are left out: the hub names them
only for the doctors with an RPPS who serve a room (``hub.interop.fhir_actors``), which the
tests' CPTS has not (``test_sas_practitioners`` adds them).
"""

from __future__ import annotations

from typing import Any

R314 = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"

EXAMPLE_SLOT: dict[str, Any] = {
    "resourceType": "Slot",
    "id": "ExampleSlotCPTS1",
    "meta": {
        "profile": [
            "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-slot-aggregator"
        ],
        "security": [{"system": R314, "code": "PUBLIC"}, {"system": R314, "code": "CPTS"}],
    },
    "serviceType": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}]},
        {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType",
                    "valueReference": {
                        "reference": "HealthcareService/ExampleHealthcareServiceCPTS1"
                    },
                }
            ],
            "coding": [
                {
                    "system": "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/"
                    "TRE-R66-CategorieEtablissement",
                    "code": "604",
                }
            ],
        },
        {"text": "Visite de contrôle"},
    ],
    "specialty": [
        {
            "coding": [
                {
                    "system": "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/"
                    "TRE-R38-SpecialiteOrdinale",
                    "code": "SM54",
                }
            ]
        }
    ],
    "appointmentType": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "ROUTINE"}]
    },
    "schedule": {"reference": "Schedule/ExampleSchedule"},
    "status": "free",
    "start": "2024-06-12T16:40:00.000+02:00",
    "end": "2024-06-12T17:00:00.000+02:00",
    "comment": "https://exemple.com/rdv/com/",
}

EXAMPLE_SCHEDULE: dict[str, Any] = {
    "resourceType": "Schedule",
    "id": "ExampleSchedule",
    "meta": {"profile": ["http://sas.fr/fhir/StructureDefinition/FrScheduleAgregateur"]},
    "actor": [
        {"reference": "Practitioner/ExamplePractitioner"},
        {"reference": "PractitionerRole/ExamplePractitionerRoleAgregateur"},
    ],
}

EXAMPLE_HEALTHCARE_SERVICE: dict[str, Any] = {
    "resourceType": "HealthcareService",
    "id": "ExampleHealthcareServiceCPTS1",
    "meta": {
        "profile": [
            "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-healthcareservice-aggregator"
        ]
    },
    "providedBy": {"reference": "Organization/ExampleOrgaCPTS1"},
}

EXAMPLE_ORGANIZATION: dict[str, Any] = {
    "resourceType": "Organization",
    "id": "ExampleOrgaCPTS1",
    "meta": {
        "profile": [
            "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-organization-aggregator"
        ]
    },
    "identifier": [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://interopsante.org/fhir/CodeSystem/fr-v2-0203",
                        "code": "IDNST",
                    }
                ]
            },
            "system": "urn:oid:1.2.250.1.71.4.2.2",
            "value": "1950047225",
        }
    ],
    "name": "CPTS AXE MAJEUR",
    "telecom": [{"system": "phone", "value": "+33102030405"}],
}

EXAMPLE_BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "id": "ExampleBundleCPTS1",
    "meta": {
        "profile": [
            "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-bundle-aggregator"
        ]
    },
    "type": "searchset",
    "total": 1,
    "link": [{"relation": "self", "url": "http://hapi.fhir.org/baseR4/Slot?..."}],
    "entry": [
        {
            "fullUrl": "https://<base_URl>/Slot/ExampleSlotCPTS1",
            "resource": EXAMPLE_SLOT,
            "search": {"mode": "match"},
        },
        {
            "fullUrl": "https://<base_URl>/Schedule/ExampleSchedule",
            "resource": EXAMPLE_SCHEDULE,
            "search": {"mode": "include"},
        },
        {
            "fullUrl": "https://<base_URl>/HealthcareService/ExampleHealthcareServiceCPTS1",
            "resource": EXAMPLE_HEALTHCARE_SERVICE,
            "search": {"mode": "include"},
        },
        {
            "fullUrl": "https://<base_URl>/Organization/ExampleOrgaCPTS1",
            "resource": EXAMPLE_ORGANIZATION,
            "search": {"mode": "include"},
        },
    ],
}
