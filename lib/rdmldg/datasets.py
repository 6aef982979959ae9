"""The datasets the study knows, as facts: the synthetic world's domains (rendering styles) and
classes (shapes), and the environments of DomainBed's four datasets. The data layer renders and
reads them; the parameter schemas only validate names against them."""

SYNTHETIC_DOMAINS = ("cartoon", "painting", "photo", "sketch")
SYNTHETIC_CLASSES = ("ball", "cross", "flower", "house", "moon", "ring", "star", "tree")
DOMAINBED_DOMAINS = {
    "PACS": ("art_painting", "cartoon", "photo", "sketch"),
    "VLCS": ("Caltech101", "LabelMe", "SUN09", "VOC2007"),
    "office_home": ("Art", "Clipart", "Product", "Real World"),
    "terra_incognita": ("location_100", "location_38", "location_43", "location_46"),
}
