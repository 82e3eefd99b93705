"""Relay: the doctors who take patients without a médecin traitant.

- ``models``, ``service``, ``pages``: the territory's relay doctors who accept patients without a
  médecin traitant (the coordinator's directory), and the referrals made to them.

Referring is done from the consoles (``hub.consoles.referrals``); relaying a signed report by
MSSanté and following its delivery is ``hub.reports``'s (``mssante``, ``xdm``, ``tracking``).
"""
