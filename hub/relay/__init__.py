"""Relay: the territory's directory of relay doctors (médecins relais) who accept patients
without a médecin traitant, and the referrals made to them (``models``, ``service``, ``pages``).
The relay of reports to the médecin traitant (MSSanté) will live here too."""
