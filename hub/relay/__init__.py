"""Relay: getting the report to the doctor who follows the patient.

- ``models``, ``service``, ``pages``: the territory's relay doctors who accept patients without a
  médecin traitant, and the referrals made to them (by the room or the secretariat).
- ``xdm`` (the IHE_XDM.ZIP package) and ``mssante`` (the MSSanté-style message and its X-MSS-*
  headers, through the notify outbox): the relay of a signed report.
- ``tracking``, ``transmissions``: the secretariat's follow-up of those relays, and re-sending.
"""
