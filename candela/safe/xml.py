"""Parsing product metadata safely: no DTD, no entity, no network, and no DOCTYPE at all."""

from lxml import etree

from ..errors import InputError


def xml_parser():
    """A new lxml parser that loads no DTD, expands no entity and uses no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(data, name):
    """Parse an XML document safely; ``name`` (a file name, not a path) is for messages.

    Refuses documents with a DOCTYPE: SAFE metadata have none, and a DOCTYPE is how
    entity-expansion and external-entity attacks start.
    """
    try:
        # A parser per call: lxml parsers must not be shared between threads.
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError:
        raise InputError(f"the product metadata {name} are not well-formed XML") from None
    if root.getroottree().docinfo.doctype:
        raise InputError(f"the product metadata {name} declare a DOCTYPE, which is not accepted")
    return root
