"""The national INSi teleservice (Identité Nationale de Santé) behind a small adapter.

``adapter`` holds what the rest of the hub sees: the traits sent, the identity INSi returns (the
INS: NIR or NIA with its authority OID, and the INS traits in upper case as returned), the
answer codes of the ANS guide (00 one identity, 01 none, 02 several) and ``InsiService``, the
Protocol a client satisfies. ``soap`` is the client, through ``zeep`` against ``insi.wsdl``
(the operations and message fields of the guide, written here: the official WSDL is
distributed to CNDA-registered vendors only; drop it in place of this file). ``client_for``
gives the configured client (HUB_INSI_URL, HUB_INSI_CERT, HUB_INSI_KEY), or None when INSi is
not configured."""
