#!/usr/bin/env python3
"""armcheck: an offline checker for pqrt's ARM template (arm/azuredeploy.json).

    armcheck.py [--today YYYY-MM-DD] [--fields config/fields.def|none] [--parameters FILE] TEMPLATE
    armcheck.py [options] arm/      (azuredeploy.json plus every azuredeploy.parameters*.json there)

Python 3 and python3-jsonschema only; nothing is fetched. Exit 0 when clean, 1 with one
"armcheck: FILE: error: ..." line per fault, 2 on bad usage. What it checks:

  * strict JSON (no BOM, comments, trailing commas, duplicate keys, NaN/Infinity), formatted as
    json.dumps(obj, indent=2) + "\\n" (the cloud-config renderer rewrites the file that way);
  * the top-level shape, contentVersion, parameter/output definitions and the parameters file
    against the local draft-04 schemas in schema/;
  * expressions parse, use known functions, and every parameters('x')/variables('x') is defined;
    every parameter and variable is used;
  * every resourceId()/extensionResourceId()/dependsOn/scope target is declared in the template
    (type plus name expressions compared as normalised text), there is no dependency cycle, and a
    resource that uses another resource's id depends on it;
  * secret-like parameters are securestring/secureObject without a literal default (newGuid() is
    allowed); outputs, customData and userData reference no secure parameter, call no list*(),
    read no key/secret property and hold nothing that looks like a key;
  * userData is a pqrt config whose fields all exist in config/fields.def (plus the deployment
    fields), whose secret fields are only keyvault:NAME indirections;
  * customData is one static constant for every VM, a #cloud-config under 65,535 bytes decoded;
  * role definitions are known built-in roles (never Contributor/Owner), assignment names guid();
  * image version 'latest', VM sizes are parameters, SSH keys only, Trusted Launch, Flexible
    scale sets, location not hard-coded, storage/Key Vault/Redis hardening, no Internet-open NSG
    rule, no http:// address;
  * each apiVersion is one the checker knows to exist for its type, not a preview, and not older
    than two years before --today (arm-ttk's rule: the newest GA version of a type with nothing
    newer is accepted while the list below is less than a year old);
  * the parameters file names only template parameters, gives every parameter without a default,
    matches the declared types and holds no secret value.
"""

import argparse
import base64
import binascii
import datetime
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:  # Debian's python3-jsonschema lives with /usr/bin/python3, not with pyenv's
    _alt = "/usr/bin/python3"
    if (os.path.exists(_alt) and not os.environ.get("ARMCHECK_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath(_alt)):
        os.environ["ARMCHECK_REEXEC"] = "1"
        os.execv(_alt, [_alt] + sys.argv)
    sys.exit("armcheck: needs python3-jsonschema (apt-get install python3-jsonschema, or "
             "bootstrap/install_deps.sh --test)")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# --- data kept in the checker -------------------------------------------------------------------

# Built-in role definition GUIDs (shared/reference/azure-deploy.md section 2.2).
ROLE_GUIDS = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": "Storage Queue Data Message Sender",
    "8a0f0c08-91a1-4084-bc3d-661d67233fed": "Storage Queue Data Message Processor",
    "19e7f393-937e-4f77-808e-94535e297925": "Storage Queue Data Reader",
    "12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": "Key Vault Crypto Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "43d0d8ad-25c7-4714-9337-8ba259a9fe05": "Monitoring Reader",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
}
TOO_BROAD_ROLES = {"b24988ac-6180-42a0-ab88-20f7382dd24c",   # Contributor
                   "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"}   # Owner

# GA apiVersions known to exist, per resource type (Azure/azure-rest-api-specs, the
# learn.microsoft.com/azure/templates version lists), as of API_VERSIONS_AS_OF.
API_VERSIONS_AS_OF = datetime.date(2026, 12, 2)
_COMPUTE = ["2017-03-30", "2017-12-01", "2018-04-01", "2018-06-01", "2018-10-01", "2019-03-01",
            "2019-07-01", "2019-12-01", "2020-06-01", "2020-12-01", "2021-03-01", "2021-04-01",
            "2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01", "2022-11-01", "2023-03-01",
            "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01"]
_NETWORK = ["2020-11-01", "2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2022-01-01",
            "2022-05-01", "2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01",
            "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01", "2024-03-01",
            "2024-05-01", "2024-07-01", "2024-10-01", "2025-01-01", "2025-03-01", "2025-05-01",
            "2025-07-01"]
_STORAGE_CHILD = ["2019-06-01", "2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01",
                  "2021-08-01", "2021-09-01", "2022-05-01", "2022-09-01", "2023-01-01",
                  "2023-04-01", "2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01"]
_KEYVAULT = ["2019-09-01", "2021-10-01", "2022-07-01", "2023-02-01", "2023-07-01", "2024-11-01",
             "2025-05-01"]
_PRIVATE_DNS = ["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"]
_CACHE = ["2020-06-01", "2020-12-01", "2021-06-01", "2022-05-01", "2022-06-01", "2023-04-01",
          "2023-08-01", "2024-03-01", "2024-11-01"]
API_VERSIONS = {
    "microsoft.compute/virtualmachines": _COMPUTE,
    "microsoft.compute/virtualmachinescalesets": _COMPUTE,
    "microsoft.network/networksecuritygroups": _NETWORK,
    "microsoft.network/publicipaddresses": _NETWORK,
    "microsoft.network/natgateways": _NETWORK,
    "microsoft.network/virtualnetworks": _NETWORK,
    "microsoft.network/networkinterfaces": _NETWORK,
    "microsoft.network/privateendpoints": _NETWORK,
    "microsoft.network/privateendpoints/privatednszonegroups": _NETWORK,
    "microsoft.network/privatednszones": _PRIVATE_DNS,
    "microsoft.network/privatednszones/virtualnetworklinks": _PRIVATE_DNS,
    "microsoft.storage/storageaccounts": ["2016-01-01", "2016-12-01", "2017-06-01", "2017-10-01",
                                          "2018-02-01", "2018-07-01", "2018-11-01", "2019-04-01"]
                                         + _STORAGE_CHILD,
    "microsoft.storage/storageaccounts/blobservices": _STORAGE_CHILD,
    "microsoft.storage/storageaccounts/blobservices/containers": _STORAGE_CHILD,
    "microsoft.storage/storageaccounts/queueservices": _STORAGE_CHILD,
    "microsoft.storage/storageaccounts/queueservices/queues": _STORAGE_CHILD,
    "microsoft.keyvault/vaults": _KEYVAULT,
    "microsoft.keyvault/vaults/keys": _KEYVAULT,
    "microsoft.keyvault/vaults/secrets": _KEYVAULT,
    "microsoft.managedidentity/userassignedidentities": ["2018-11-30", "2023-01-31", "2024-11-30"],
    "microsoft.cache/redis": _CACHE,
    "microsoft.authorization/roleassignments": ["2015-07-01", "2022-04-01"],
}
# Types whose newest GA version above had no newer GA when the list was made (arm-ttk accepts
# "the newest available" even when it is older than two years).
NO_NEWER_GA = {t: v[-1] for t, v in API_VERSIONS.items() if t in (
    "microsoft.authorization/roleassignments", "microsoft.cache/redis",
    "microsoft.managedidentity/userassignedidentities", "microsoft.network/privatednszones",
    "microsoft.network/privatednszones/virtualnetworklinks")}

# Config fields the VM bootstrap reads besides config/fields.def (added there by issue 11).
DEPLOY_FIELDS = {
    "deploy_role": ("CHOICE", False, ["", "scheduler", "worker", "redis"]),
    "package_container_name": ("STRING", False, None),
    "package_blob_name": ("STRING", False, None),
    "package_sha256": ("STRING", False, None),
}

# ARM template functions (plus the list* family, matched by prefix).
FUNCTIONS = set("""
array concat contains createarray createobject empty first flatten indexof intersection items join
last lastindexof length max min range skip take union coalesce equals greater greaterorequals less
lessorequals and bool false if not or true int float json null string base64 base64tojson
base64tostring datauri datauritostring endswith format guid newguid padleft replace split
startswith substring tolower toupper trim uniquestring uri uricomponent uricomponenttostring utcnow
datetimeadd datetimefromepoch datetimetoepoch add div mod mul sub deployment environment
parameters variables copyindex reference resourceid extensionresourceid subscriptionresourceid
tenantresourceid managementgroupresourceid resourcegroup subscription tenant managementgroup
pickzones providers filter map reduce sort toobject lambda lambdavariables objectkeys shallowmerge
tryget cidrhost cidrsubnet parsecidr
""".split())

PARAM_TYPES = {"string", "securestring", "int", "bool", "object", "secureobject", "array"}
SECURE_TYPES = {"securestring", "secureobject"}
RESOURCE_ID_FUNCS = {"resourceid", "subscriptionresourceid", "tenantresourceid",
                     "extensionresourceid", "managementgroupresourceid"}
# Properties held inline by a resource that resourceId() can name as child resources.
INLINE_CHILDREN = {
    "microsoft.network/virtualnetworks": ("subnets", "subnets"),
    "microsoft.network/networksecuritygroups": ("securityRules", "securityRules"),
    "microsoft.network/networkinterfaces": ("ipConfigurations", "ipConfigurations"),
}
SECRET_ACCESSORS = re.compile(r"(?i)^(primarykey|secondarykey|primaryconnectionstring|"
                              r"secondaryconnectionstring|connectionstring|keys|password|"
                              r"secret|accesskey|accesskeys|sastoken)$")
SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"(?i)AccountKey\s*="), "a storage connection string with AccountKey="),
    (re.compile(r"(?i)SharedAccessSignature|[?&]sig=[A-Za-z0-9%+/=]{16,}"), "a SAS signature"),
    (re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])"),
     "an 88-character base64 storage key"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"), "a JWT"),
]
HTTP_OK = re.compile(r"http://(169\.254\.169\.254|localhost|127\.0\.0\.1|schema\.management)")
GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
APIVER_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-[a-z]+)?$")
CUSTOM_DATA_MAX = 65535


# --- strict JSON --------------------------------------------------------------------------------

class Fault(Exception):
    pass


def load_strict(path):
    """The document, or raises Fault. Also returns whether it is json.dumps(indent=2) output."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Fault("cannot read: %s" % e.strerror)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Fault("starts with a UTF-8 byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Fault("not UTF-8 (%s)" % e)

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise Fault("duplicate key '%s' (strict JSON keeps one value per key)" % k)
            out[k] = v
        return out

    def constant(name):
        raise Fault("non-finite number %s (strict JSON has no NaN or Infinity)" % name)

    try:
        doc = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as e:
        near = text[e.pos:e.pos + 2]
        hint = " (comments are not allowed)" if near in ("//", "/*") else ""
        raise Fault("not strict JSON: %s at line %d column %d%s" % (e.msg, e.lineno, e.colno, hint))
    return doc, json.dumps(doc, indent=2) + "\n" == text


# --- expressions --------------------------------------------------------------------------------

class Node:
    pass


class Str(Node):
    def __init__(self, value):
        self.value = value


class Num(Node):
    def __init__(self, value):
        self.value = value


class Call(Node):
    def __init__(self, name, args):
        self.name, self.args = name, args

    @property
    def fn(self):
        return self.name.lower()


class Prop(Node):
    def __init__(self, base, name):
        self.base, self.name = base, name


class Index(Node):
    def __init__(self, base, index):
        self.base, self.index = base, index


def is_expression(s):
    return isinstance(s, str) and s.startswith("[") and s.endswith("]") and not s.startswith("[[")


def literal_text(s):
    return s[1:] if s.startswith("[[") else s


class Parser:
    def __init__(self, text):
        self.t, self.i = text, 0

    def fail(self, what):
        raise Fault("bad expression [%s]: %s at offset %d" % (self.t, what, self.i))

    def ws(self):
        while self.i < len(self.t) and self.t[self.i] in " \t\r\n":
            self.i += 1

    def peek(self):
        self.ws()
        return self.t[self.i] if self.i < len(self.t) else ""

    def parse(self):
        node = self.expr()
        if self.peek():
            self.fail("unexpected '%s'" % self.peek())
        return node

    def expr(self):
        c = self.peek()
        if c == "'":
            node = Str(self.string())
        elif c.isdigit() or c == "-":
            m = re.compile(r"-?\d+(\.\d+)?").match(self.t, self.i)
            if not m:
                self.fail("bad number")
            self.i = m.end()
            node = Num(float(m.group()) if m.group(1) else int(m.group()))
        elif c.isalpha() or c == "_":
            m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(self.t, self.i)
            self.i = m.end()
            if self.peek() != "(":
                self.fail("'%s' is not followed by '('" % m.group())
            self.i += 1
            args = []
            if self.peek() != ")":
                while True:
                    args.append(self.expr())
                    if self.peek() == ",":
                        self.i += 1
                        continue
                    break
            if self.peek() != ")":
                self.fail("missing ')'")
            self.i += 1
            node = Call(m.group(), args)
        else:
            self.fail("unexpected '%s'" % c if c else "unexpected end")
        while True:
            c = self.peek()
            if c == ".":
                self.i += 1
                self.ws()
                m = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*").match(self.t, self.i)
                if not m:
                    self.fail("bad property name")
                self.i = m.end()
                node = Prop(node, m.group())
            elif c == "[":
                self.i += 1
                idx = self.expr()
                if self.peek() != "]":
                    self.fail("missing ']'")
                self.i += 1
                node = Index(node, idx)
            else:
                return node

    def string(self):
        self.i += 1
        out = []
        while True:
            if self.i >= len(self.t):
                self.fail("unterminated string")
            c = self.t[self.i]
            if c == "'":
                if self.t[self.i + 1:self.i + 2] == "'":
                    out.append("'")
                    self.i += 2
                    continue
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1


def walk_nodes(node):
    yield node
    if isinstance(node, Call):
        for a in node.args:
            yield from walk_nodes(a)
    elif isinstance(node, Prop):
        yield from walk_nodes(node.base)
    elif isinstance(node, Index):
        yield from walk_nodes(node.base)
        yield from walk_nodes(node.index)


def text_of(node):
    if isinstance(node, Str):
        return "'" + node.value.replace("'", "''") + "'"
    if isinstance(node, Num):
        return str(node.value)
    if isinstance(node, Call):
        return "%s(%s)" % (node.name, ", ".join(text_of(a) for a in node.args))
    if isinstance(node, Prop):
        return "%s.%s" % (text_of(node.base), node.name)
    return "%s[%s]" % (text_of(node.base), text_of(node.index))


def walk_json(value, path="$"):
    """(path, key-or-None, string) for every string value and every object key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (path + "." + k, True, k)
            yield from walk_json(v, path + "." + k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_json(v, "%s[%d]" % (path, i))
    elif isinstance(value, str):
        yield (path, False, value)


class NotConstant(Exception):
    pass


# --- the checker --------------------------------------------------------------------------------

class Checker:
    def __init__(self, path, today, fields):
        self.path, self.today, self.fields = path, today, fields
        self.errors = []
        self.asts = {}

    def err(self, msg):
        self.errors.append(msg)

    # -- expressions, variables, canonical text --

    def ast(self, s):
        """The expression tree of a template string (a literal string is a Str)."""
        if not is_expression(s):
            return Str(literal_text(s))
        if s not in self.asts:
            self.asts[s] = Parser(s[1:-1]).parse()
        return self.asts[s]

    def var(self, name):
        for k, v in self.variables.items():
            if k.lower() == name.lower():
                return True, v
        return False, None

    def resolve(self, node, depth=0):
        """The JSON value an expression denotes inside variables, or None."""
        if depth > 20:
            return None
        if isinstance(node, Call) and node.fn == "variables" and node.args and \
                isinstance(node.args[0], Str):
            found, v = self.var(node.args[0].value)
            return (v,) if found else None
        if isinstance(node, (Prop, Index)):
            base = self.resolve(node.base, depth + 1)
            if base is None:
                return None
            v = base[0]
            if isinstance(v, str) and is_expression(v):
                return self.resolve(Prop(self.ast(v), node.name) if isinstance(node, Prop)
                                    else Index(self.ast(v), node.index), depth + 1)
            if isinstance(node, Prop) and isinstance(v, dict):
                for k, x in v.items():
                    if k.lower() == node.name.lower():
                        return (x,)
            if isinstance(node, Index) and isinstance(node.index, (Str, Num)):
                key = node.index.value
                if isinstance(v, dict) and isinstance(key, str):
                    for k, x in v.items():
                        if k.lower() == key.lower():
                            return (x,)
                if isinstance(v, list) and isinstance(key, int) and 0 <= key < len(v):
                    return (v[key],)
        return None

    def canon(self, node, depth=0):
        """Normalised text of an expression: variables replaced by what they hold, lower case."""
        if depth > 20:
            return text_of(node).lower()
        r = self.resolve(node)
        if r is not None:
            v = r[0]
            if isinstance(v, str):
                return self.canon(self.ast(v), depth + 1)
            return "json:" + json.dumps(v, sort_keys=True).lower()
        if isinstance(node, Str):
            return "'" + node.value.lower().replace("'", "''") + "'"
        if isinstance(node, Num):
            return str(node.value)
        if isinstance(node, Call):
            return "%s(%s)" % (node.fn, ",".join(self.canon(a, depth + 1) for a in node.args))
        if isinstance(node, Prop):
            return "%s.%s" % (self.canon(node.base, depth + 1), node.name.lower())
        return "%s[%s]" % (self.canon(node.base, depth + 1), self.canon(node.index, depth + 1))

    def evaluate(self, node, depth=0):
        """A constant expression's value (str/int), or raises NotConstant."""
        if depth > 40:
            raise NotConstant()
        if isinstance(node, (Str, Num)):
            return node.value
        r = self.resolve(node)
        if r is not None:
            v = r[0]
            if isinstance(v, str):
                return self.evaluate(self.ast(v), depth + 1)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v
            raise NotConstant()
        if not isinstance(node, Call):
            raise NotConstant()
        args = [self.evaluate(a, depth + 1) for a in node.args]
        fn = node.fn
        if fn == "base64" and len(args) == 1 and isinstance(args[0], str):
            return base64.b64encode(args[0].encode("utf-8")).decode("ascii")
        if fn == "concat" and all(isinstance(a, str) for a in args):
            return "".join(args)
        if fn == "format" and args and isinstance(args[0], str):
            return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1)) + 1]), args[0])
        if fn == "string" and len(args) == 1:
            return str(args[0])
        if fn == "padleft" and len(args) in (2, 3) and isinstance(args[1], int):
            return str(args[0]).rjust(args[1], args[2] if len(args) == 3 else " ")
        raise NotConstant()

    def expanded(self, value, seen_vars=None):
        """(node, None) for every expression node in a JSON value, (None, text) for every literal
        string, and the same for the variables it uses (each expanded once)."""
        seen_vars = set() if seen_vars is None else seen_vars
        for _, is_key, s in walk_json(value):
            if not is_expression(s):
                yield None, literal_text(s)
                continue
            try:
                node = self.ast(s)
            except Fault:
                continue
            for n in walk_nodes(node):
                yield n, None
                if isinstance(n, Call) and n.fn == "variables" and n.args and \
                        isinstance(n.args[0], Str):
                    name = n.args[0].value.lower()
                    found, v = self.var(name)
                    if found and name not in seen_vars:
                        seen_vars.add(name)
                        yield from self.expanded(v, seen_vars)

    def refs_in(self, value, seen_vars=None):
        """Every expression node in a JSON value, variables it uses expanded (once each)."""
        return (n for n, _ in self.expanded(value, seen_vars) if n is not None)

    def strings_in(self, value, seen_vars=None):
        """Every literal string in a JSON value and in the variables it uses."""
        for n, text in self.expanded(value, seen_vars):
            if n is None:
                yield text
            elif isinstance(n, Str):
                yield n.value

    # -- resources and their ids --

    def segments(self, value):
        """A resource name (or a relative id's pieces) split on '/', each normalised."""
        node = self.ast(value) if isinstance(value, str) else value
        return [c for _, c in self.pieces(node)]

    def pieces(self, node, depth=0):
        """[(literal text or None, canonical)] of a '/'-joined string expression."""
        if depth < 20:
            r = self.resolve(node)
            if r is not None and isinstance(r[0], str):
                return self.pieces(self.ast(r[0]), depth + 1)
        if isinstance(node, Str):
            return [(p, "'%s'" % p.lower().replace("'", "''")) for p in node.value.split("/")]
        if isinstance(node, Call) and node.fn == "format" and node.args and \
                isinstance(node.args[0], Str):
            out = []
            for p in node.args[0].value.split("/"):
                m = re.fullmatch(r"\{(\d+)\}", p)
                if m and int(m.group(1)) + 1 < len(node.args):
                    arg = node.args[int(m.group(1)) + 1]
                    out.extend(self.pieces(arg, depth + 1))
                elif "{" not in p:
                    out.append((p, "'%s'" % p.lower()))
                else:
                    out.append((None, self.canon(Call("format", [Str(p)] + node.args[1:]))))
            return out
        if isinstance(node, Call) and node.fn == "concat":
            out, cur = [], []
            for a in node.args:
                if isinstance(a, Str):
                    parts = a.value.split("/")
                    if parts[0]:
                        cur.append(Str(parts[0]))
                    for p in parts[1:]:
                        out.append(cur)
                        cur = [Str(p)] if p else []
                else:
                    cur.append(a)
            out.append(cur)
            res = []
            for group in out:
                if len(group) == 1 and isinstance(group[0], Str):
                    res.append((group[0].value, "'%s'" % group[0].value.lower()))
                elif len(group) == 1:
                    res.append((None, self.canon(group[0])))
                else:
                    res.append((None, self.canon(Call("concat", group))))
            return res
        return [(None, self.canon(node))]

    def key_of_relative_id(self, node):
        """(type, names) of a relative resource id expression like
        format('Microsoft.Storage/storageAccounts/{0}/blobServices/default/containers/{1}', ...)."""
        if isinstance(node, Call) and node.fn == "resourceid":
            return self.key_of_resourceid(node)
        ps = self.pieces(node)
        if ps and ps[0][0] == "":
            ps = ps[1:]
        if len(ps) < 3 or ps[0][0] is None or "." not in ps[0][0] or (len(ps) - 1) % 2:
            return None
        types, names = [ps[0][0]], []
        for i in range(1, len(ps), 2):
            if ps[i][0] is None:
                return None
            types.append(ps[i][0])
            names.append(ps[i + 1][1])
        return ("/".join(types).lower(), tuple(names))

    def key_of_resourceid(self, call):
        """(type, names) a resourceId() call names, or None when it names no type."""
        args = call.args
        for i, a in enumerate(args):
            if isinstance(a, Str) and re.match(r"^[A-Za-z0-9]+\.[A-Za-z0-9.]+/", a.value):
                names = []
                for n in args[i + 1:]:
                    names.extend(c for _, c in self.pieces(n))
                return (a.value.lower(), tuple(names))
        return None

    def scope_key(self, node):
        """The scope a scope property or extensionResourceId()'s first argument denotes:
        None for the resource group, a (type, names) key, or 'unknown'."""
        if isinstance(node, Prop) and isinstance(node.base, Call) and \
                node.base.fn == "resourcegroup" and node.name.lower() == "id":
            return None
        k = self.key_of_relative_id(node)
        return k if k is not None else "unknown"

    def collect_resources(self, resources, parent=None, path="$.resources"):
        for i, r in enumerate(resources):
            p = "%s[%d]" % (path, i)
            if not isinstance(r, dict) or not isinstance(r.get("type"), str) or \
                    not isinstance(r.get("name"), str):
                continue
            rtype, name_node = r["type"], self.ast(r["name"])
            names = self.segments(r["name"])
            if parent is not None and "/" not in rtype:
                rtype = parent["type"] + "/" + rtype
                names = list(parent["names"]) + names
            scope = None
            if "scope" in r and isinstance(r["scope"], str):
                scope = self.scope_key(self.ast(r["scope"]))
            res = {"index": len(self.res), "type": rtype, "ltype": rtype.lower(),
                   "names": tuple(names), "scope": scope, "body": r, "path": p,
                   "parent": parent, "name_node": name_node}
            res["label"] = "%s %s" % (rtype, r["name"] if is_expression(r["name"])
                                      else "'%s'" % r["name"])
            self.res.append(res)
            self.by_key.setdefault((res["ltype"], res["names"], scope), res)
            child = INLINE_CHILDREN.get(res["ltype"])
            if child:
                for c in (r.get("properties") or {}).get(child[0]) or []:
                    if isinstance(c, dict) and isinstance(c.get("name"), str):
                        ck = (res["ltype"] + "/" + child[1].lower(),
                              res["names"] + tuple(self.segments(c["name"])), None)
                        self.inline.setdefault(ck, res)
            if isinstance(r.get("resources"), list):
                self.collect_resources(r["resources"], res, p + ".resources")

    def lookup(self, key, scope=None):
        """(resource, inline) for a (type, names) key."""
        if key is None:
            return None, False
        k = (key[0], key[1], scope)
        if k in self.by_key:
            return self.by_key[k], False
        if k in self.inline:
            return self.inline[k], True
        return None, False

    def describe_key(self, key):
        return "%s %s" % (key[0], "/".join(key[1]))

    # -- the run --

    def run(self, doc):
        if not isinstance(doc, dict):
            self.err("the template is not a JSON object")
            return
        self.doc = doc
        self.params = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
        self.variables = doc.get("variables") if isinstance(doc.get("variables"), dict) else {}
        self.outputs = doc.get("outputs") if isinstance(doc.get("outputs"), dict) else {}
        resources = doc.get("resources") if isinstance(doc.get("resources"), list) else []
        if not self.check_expressions(doc):
            return
        self.res, self.by_key, self.inline = [], {}, {}
        self.collect_resources(resources)
        self.check_references()
        self.check_graph()
        self.check_parameters()
        self.check_outputs()
        self.check_api_versions()
        self.check_locations()
        self.check_role_assignments()
        self.check_vms()
        self.check_services()
        self.check_http()

    def check_expressions(self, doc):
        ok = True
        for path, is_key, s in walk_json(doc):
            if not is_expression(s):
                continue
            try:
                node = self.ast(s)
            except Fault as e:
                self.err("%s: %s" % (path, e))
                ok = False
                continue
            for n in walk_nodes(node):
                if isinstance(n, Call) and n.fn not in FUNCTIONS and not n.fn.startswith("list"):
                    self.err("%s: unknown function %s()" % (path, n.name))
                    ok = False
        return ok

    def check_references(self):
        pnames = {k.lower(): k for k in self.params}
        vnames = {k.lower(): k for k in self.variables}
        used_p, used_v = set(), set()
        var_refs = {}   # variable -> variables it references
        for path, is_key, s in walk_json(self.doc):
            if not is_expression(s):
                continue
            in_var = None
            m = re.match(r"^\$\.variables\.([^.\[]+)", path)
            if m and m.group(1).lower() in vnames:
                in_var = m.group(1).lower()
            for n in walk_nodes(self.ast(s)):
                if not isinstance(n, Call) or n.fn not in ("parameters", "variables"):
                    continue
                if len(n.args) != 1 or not isinstance(n.args[0], Str):
                    self.err("%s: %s() with a computed name cannot be checked" % (path, n.name))
                    continue
                name = n.args[0].value
                table = pnames if n.fn == "parameters" else vnames
                if name.lower() not in table:
                    self.err("%s: %s('%s') is not defined" % (path, n.fn, name))
                    continue
                if n.fn == "parameters":
                    used_p.add(name.lower())
                elif in_var is not None:
                    var_refs.setdefault(in_var, set()).add(name.lower())
                else:
                    used_v.add(name.lower())
        todo = list(used_v)
        while todo:
            v = todo.pop()
            for w in var_refs.get(v, ()):
                if w not in used_v:
                    used_v.add(w)
                    todo.append(w)
        for k in self.params:
            if k.lower() not in used_p:
                self.err("parameter '%s' is never used" % k)
        for k in self.variables:
            if k.lower() not in used_v:
                self.err("variable '%s' is never used" % k)

    def target_of(self, node):
        """The resource a resourceId()/extensionResourceId() node names:
        (resource or None, inline, description); None when it is not such a call."""
        if not isinstance(node, Call):
            return None
        if node.fn == "resourceid":
            key = self.key_of_resourceid(node)
            if key is None:
                return (None, False, text_of(node))
            r, inline = self.lookup(key)
            return (r, inline, self.describe_key(key))
        if node.fn == "extensionresourceid" and len(node.args) >= 3:
            scope = self.scope_key(node.args[0])
            key = self.key_of_resourceid(Call("resourceId", node.args[1:]))
            if key is None or scope == "unknown":
                return (None, False, text_of(node))
            r, inline = self.lookup(key, scope)
            where = "resource group" if scope is None else self.describe_key(scope)
            return (r, inline, "%s on %s" % (self.describe_key(key), where))
        return None

    def check_graph(self):
        n = len(self.res)
        deps = [set() for _ in range(n)]
        for res in self.res:
            i, body = res["index"], res["body"]
            if res["parent"] is not None:
                deps[i].add(res["parent"]["index"])
            d = body.get("dependsOn", [])
            for j, entry in enumerate(d if isinstance(d, list) else []):
                if not isinstance(entry, str):
                    continue
                where = "%s.dependsOn[%d]" % (res["path"], j)
                tgt = self.resolve_dependency(entry)
                if tgt is None:
                    self.err("%s: dependsOn target %s is not declared in the template"
                             % (where, entry))
                elif tgt == "inline":
                    self.err("%s: dependsOn names %s, which is declared inline; depend on the "
                             "resource that holds it" % (where, entry))
                else:
                    deps[i].add(tgt["index"])
            # implicit dependencies: reference()/list*() of a declared resource
            for node in self.refs_in(self.strip(body, ("dependsOn",))):
                if isinstance(node, Call) and (node.fn == "reference" or
                                               node.fn.startswith("list")) and node.args:
                    t = self.target_of(node.args[0])
                    if t and t[0] is not None and t[0]["index"] != i:
                        deps[i].add(t[0]["index"])
        self.deps = deps
        # every resourceId()/extensionResourceId()/scope target declared
        for res in self.res:
            body = res["body"]
            if res["scope"] == "unknown":
                self.err("%s.scope: cannot tell which resource %s names" % (res["path"],
                                                                           body.get("scope")))
            elif res["scope"] is not None and self.lookup(res["scope"])[0] is None:
                self.err("%s.scope: %s is not declared in the template"
                         % (res["path"], self.describe_key(res["scope"])))
        for path, is_key, s in walk_json(self.doc):
            if not is_expression(s) or ".dependsOn[" in path:
                continue
            for node in walk_nodes(self.ast(s)):
                t = self.target_of(node)
                if t is not None and t[0] is None:
                    self.err("%s: %s names %s, which is not declared in the template"
                             % (path, node.name, t[2]))
        # cycles
        state = [0] * n
        stack = []

        def visit(i):
            state[i] = 1
            stack.append(i)
            for j in sorted(deps[i]):
                if state[j] == 1:
                    cyc = stack[stack.index(j):] + [j]
                    self.err("dependency cycle: %s" % " -> ".join(self.res[k]["label"]
                                                                  for k in cyc))
                    return True
                if state[j] == 0 and visit(j):
                    return True
            stack.pop()
            state[i] = 2
            return False

        cyclic = False
        for i in range(n):
            if state[i] == 0 and visit(i):
                cyclic = True
                break
        if cyclic:
            return
        # a resource that uses another one's id depends on it (directly or through others)
        closure = {}

        def reach(i):
            if i not in closure:
                closure[i] = set()
                for j in deps[i]:
                    closure[i].add(j)
                    closure[i] |= reach(j)
            return closure[i]

        for res in self.res:
            i = res["index"]
            needed = {}
            for node in self.refs_in(self.strip(res["body"], ("dependsOn", "name", "scope"))):
                t = self.target_of(node)
                if t and t[0] is not None and t[0]["index"] != i:
                    needed.setdefault(t[0]["index"], t[2])
            if res["scope"] not in (None, "unknown"):
                r = self.lookup(res["scope"])[0]
                if r is not None:
                    needed.setdefault(r["index"], self.describe_key(res["scope"]))
            if res["parent"] is None and res["ltype"].count("/") >= 2 and len(res["names"]) > 1:
                # a child declared at the top level: ARM does not wait for its parent by itself
                # (the nearest declared ancestor: blobServices/default is often left implicit)
                ptype, pnames = res["ltype"], res["names"]
                while ptype.count("/") >= 2 and len(pnames) > 1:
                    ptype, pnames = ptype.rsplit("/", 1)[0], pnames[:-1]
                    r = self.lookup((ptype, pnames))[0]
                    if r is not None:
                        needed.setdefault(r["index"], "its parent " +
                                          self.describe_key((ptype, pnames)))
                        break
            for j, what in sorted(needed.items()):
                if j not in reach(i) and not self.is_ancestor(j, i):
                    self.err("%s uses %s but does not depend on %s"
                             % (res["label"], what, self.res[j]["label"]))

    def is_ancestor(self, j, i):
        p = self.res[i]["parent"]
        while p is not None:
            if p["index"] == j:
                return True
            p = p["parent"]
        return False

    @staticmethod
    def strip(body, keys):
        return {k: v for k, v in body.items() if k not in keys}

    def resolve_dependency(self, entry):
        if is_expression(entry):
            node = self.ast(entry)
            t = self.target_of(node)
            if t is not None:
                if t[0] is None:
                    return None
                return "inline" if t[1] else t[0]
            want = self.canon(node)
            for r in self.res:
                if self.canon(r["name_node"]) == want:
                    return r
            return None
        low = entry.lower()
        for r in self.res:
            if "/".join(s.strip("'") for s in r["names"]) == low:
                return r
        return None

    # -- parameters, outputs, secrets --

    @staticmethod
    def secret_like(name):
        low = name.lower()
        words = [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)]
        if re.search(r"public|ssh", low):
            return False
        if re.search(r"password|passwd|secret|token|connectionstring", low) or "sas" in words:
            return True
        if any(w == "key" or w.endswith("key") for w in words):
            return not any(w in ("name", "vault", "size", "type", "ops", "id", "url", "uri",
                                 "length", "version", "source")
                           for w in words)
        return False

    def check_parameters(self):
        for name, p in self.params.items():
            if not isinstance(p, dict):
                continue
            ptype = str(p.get("type", "")).lower()
            if ptype in SECURE_TYPES:
                if "defaultValue" in p and p["defaultValue"] != "[newGuid()]":
                    self.err("securestring parameter '%s' has a default value (only "
                             "[newGuid()] is allowed)" % name)
            elif ptype in ("string", "object", "array") and self.secret_like(name):
                self.err("secret-like parameter '%s' is '%s'%s; make it securestring/"
                         "secureObject without a literal default"
                         % (name, p.get("type"), " with a default" if "defaultValue" in p else ""))
            if name.lower() == "location" and p.get("defaultValue") not in (
                    "[resourceGroup().location]", None):
                self.err("parameter 'location' defaults to %r; use [resourceGroup().location]"
                         % p.get("defaultValue"))
        for name, v in self.variables.items():
            for nd in self.refs_in({"v": v}, {name.lower()}):
                if isinstance(nd, Call) and nd.fn in ("reference", "newguid", "utcnow") or \
                        isinstance(nd, Call) and nd.fn.startswith("list"):
                    self.err("variable '%s' calls %s(), which ARM does not allow in variables"
                             % (name, nd.name))
                    break

    def secure_params(self):
        return {k.lower() for k, p in self.params.items()
                if isinstance(p, dict) and str(p.get("type", "")).lower() in SECURE_TYPES}

    def secret_leaks(self, value):
        """Why a value may reveal a secret: a list of reasons (empty when clean)."""
        secure = self.secure_params()
        out = []
        for node in self.refs_in(value):
            if not isinstance(node, (Call, Prop)):
                continue
            if isinstance(node, Call) and node.fn == "parameters" and node.args and \
                    isinstance(node.args[0], Str) and node.args[0].value.lower() in secure:
                out.append("references securestring parameter '%s'" % node.args[0].value)
            elif isinstance(node, Call) and node.fn.startswith("list"):
                out.append("calls %s()" % node.name)
            elif isinstance(node, Call) and node.fn == "reference" and node.args:
                t = self.target_of(node.args[0])
                if t and t[0] is not None and t[0]["ltype"] == "microsoft.keyvault/vaults/secrets":
                    out.append("reads Key Vault secret %s" % t[2])
            elif isinstance(node, Prop) and SECRET_ACCESSORS.match(node.name):
                out.append("reads property '%s'" % node.name)
        for s in self.strings_in(value):
            for rx, what in SECRET_PATTERNS:
                if rx.search(s):
                    out.append("holds a string that looks like %s" % what)
        seen, uniq = set(), []
        for r in out:
            if r not in seen:
                seen.add(r)
                uniq.append(r)
        return uniq

    def check_outputs(self):
        for name, o in self.outputs.items():
            if not isinstance(o, dict):
                continue
            if str(o.get("type", "")).lower() in SECURE_TYPES:
                self.err("output '%s' is of type %s; outputs must not carry secrets"
                         % (name, o.get("type")))
            if re.search(r"(?i)password|secret|token|connectionstring", name):
                self.err("output '%s' is named like a secret" % name)
            for why in self.secret_leaks(o):
                self.err("output '%s' %s" % (name, why))

    # -- apiVersions --

    def check_api_versions(self):
        cutoff = self.today - datetime.timedelta(days=730)
        list_fresh = self.today <= API_VERSIONS_AS_OF + datetime.timedelta(days=365)
        seen = set()
        for res in self.res:
            v = res["body"].get("apiVersion")
            t = res["ltype"]
            if not isinstance(v, str) or (t, v) in seen:
                continue
            seen.add((t, v))
            known = API_VERSIONS.get(t)
            if known is None:
                self.err("%s: the checker knows no apiVersions of %s (add them to "
                         "API_VERSIONS)" % (res["path"], res["type"]))
                continue
            m = APIVER_RE.match(v)
            if m and m.group(4):
                self.err("%s: apiVersion %s of %s is a preview" % (res["path"], v, res["type"]))
                continue
            if v not in known:
                self.err("%s: apiVersion %s of %s is not one the checker knows to exist "
                         "(known: %s)" % (res["path"], v, res["type"], ", ".join(known[-3:])))
                continue
            date = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if date < cutoff:
                if NO_NEWER_GA.get(t) == v and list_fresh:
                    continue
                note = ""
                if NO_NEWER_GA.get(t) == v:
                    note = ("; it was the newest GA version when the checker's list was made "
                            "(%s): check for a newer one and update API_VERSIONS"
                            % API_VERSIONS_AS_OF)
                self.err("%s: apiVersion %s of %s is older than two years before %s (newest "
                         "known: %s)%s" % (res["path"], v, res["type"], self.today, known[-1],
                                           note))
        # reference()/list*() with an explicit apiVersion agree with the declaration
        for path, is_key, s in walk_json(self.doc):
            if not is_expression(s):
                continue
            for node in walk_nodes(self.ast(s)):
                if isinstance(node, Call) and (node.fn == "reference" or
                                               node.fn.startswith("list")) and \
                        len(node.args) >= 2 and isinstance(node.args[1], Str):
                    t = self.target_of(node.args[0])
                    if t and t[0] is not None:
                        decl = t[0]["body"].get("apiVersion")
                        if decl != node.args[1].value:
                            self.err("%s: %s() of %s uses apiVersion %s, the resource is "
                                     "declared with %s" % (path, node.name, t[2],
                                                           node.args[1].value, decl))

    # -- rules on resources --

    def check_locations(self):
        for res in self.res:
            loc = res["body"].get("location")
            if loc is None:
                continue
            if isinstance(loc, str) and loc.lower() == "global":
                continue
            if not is_expression(loc) or "parameters('location')" not in self.canon(self.ast(loc)):
                self.err("%s: location %r is hard-coded; use parameters('location')"
                         % (res["label"], loc))

    def check_role_assignments(self):
        for res in self.res:
            if res["ltype"] != "microsoft.authorization/roleassignments":
                continue
            body, label = res["body"], res["label"]
            if not self.canon(res["name_node"]).startswith("guid("):
                self.err("%s: the name must be a deterministic guid(...) expression" % label)
            props = body.get("properties") or {}
            rd = props.get("roleDefinitionId")
            if not isinstance(rd, str):
                self.err("%s: no properties.roleDefinitionId" % label)
                continue
            text = self.canon(self.ast(rd)) if is_expression(rd) else rd
            guids = GUID_RE.findall(text)
            if not guids:
                self.err("%s: roleDefinitionId %s names no role GUID" % (label, rd))
            for g in guids:
                g = g.lower()
                if g in TOO_BROAD_ROLES:
                    self.err("%s: role %s (%s) is too broad for least privilege"
                             % (label, g, ROLE_GUIDS.get(g, "Owner")))
                elif g not in ROLE_GUIDS:
                    self.err("%s: role definition %s is not a known built-in role" % (label, g))
            if "principalType" not in props:
                self.err("%s: set properties.principalType (it avoids PrincipalNotFound while "
                         "the identity replicates)" % label)

    def resolved_object(self, value):
        """A JSON object, following a whole-value variables('x') (or x.y) reference."""
        for _ in range(10):
            if is_expression(value):
                r = self.resolve(self.ast(value))
                if r is None:
                    return value
                value = r[0]
            else:
                return value
        return value

    def check_vms(self):
        custom = []
        for res in self.res:
            t = res["ltype"]
            if t not in ("microsoft.compute/virtualmachines",
                         "microsoft.compute/virtualmachinescalesets"):
                continue
            body, label = res["body"], res["label"]
            props = body.get("properties") or {}
            vmss = t.endswith("scalesets")
            prof = props.get("virtualMachineProfile") or {} if vmss else props
            if vmss:
                size = (body.get("sku") or {}).get("name")
                if props.get("orchestrationMode") != "Flexible":
                    self.err("%s: orchestrationMode must be Flexible" % label)
                if not (prof.get("networkProfile") or {}).get("networkApiVersion"):
                    self.err("%s: Flexible scale sets need networkProfile.networkApiVersion"
                             % label)
                if "overprovision" in props:
                    self.err("%s: overprovision starts VMs that Azure deletes again" % label)
            else:
                size = (props.get("hardwareProfile") or {}).get("vmSize")
            if not (is_expression(size) and self.canon(self.ast(size)).startswith("parameters(")):
                self.err("%s: VM size %r must be a parameter" % (label, size))
            osp = prof.get("osProfile") or {}
            user = osp.get("adminUsername")
            if not is_expression(user):
                self.err("%s: adminUsername must not be a literal" % label)
            if "adminPassword" in osp:
                self.err("%s: adminPassword is set; use SSH keys only" % label)
            lin = self.resolved_object(osp.get("linuxConfiguration"))
            lin = lin if isinstance(lin, dict) else {}
            if lin.get("disablePasswordAuthentication") is not True:
                self.err("%s: linuxConfiguration.disablePasswordAuthentication must be true"
                         % label)
            img = self.resolved_object((prof.get("storageProfile") or {}).get("imageReference"))
            if is_expression(img):
                node = self.ast(img)
                if isinstance(node, Call) and node.fn == "parameters":
                    img = (self.params.get(node.args[0].value) or {}).get("defaultValue")
            version = img.get("version") if isinstance(img, dict) else None
            if version != "latest":
                self.err("%s: image version must be 'latest' (found %r)" % (label, version))
            sec = self.resolved_object(prof.get("securityProfile"))
            sec = sec if isinstance(sec, dict) else {}
            uefi = sec.get("uefiSettings") or {}
            if sec.get("securityType") != "TrustedLaunch" or uefi.get("secureBootEnabled") \
                    is not True or uefi.get("vTpmEnabled") is not True:
                self.err("%s: needs Trusted Launch (securityType TrustedLaunch, secure boot "
                         "and vTPM on)" % label)
            if "pqrt-role" not in (body.get("tags") or {}):
                self.err("%s: no 'pqrt-role' tag" % label)
            cd = osp.get("customData")
            if cd is None:
                self.err("%s: no osProfile.customData (the static cloud-config)" % label)
            else:
                custom.append((label, self.check_custom_data(label, cd)))
            ud = prof.get("userData")
            if ud is None:
                self.err("%s: no userData (the role's pqrt config)" % label)
            else:
                self.check_user_data(label, ud)
        values = {v for _, v in custom if v is not None}
        if len(values) > 1:
            self.err("customData differs between %s: it must be one static cloud-config for "
                     "every role" % ", ".join(l for l, _ in custom))

    def check_custom_data(self, label, cd):
        leaks = self.secret_leaks({"customData": cd})
        for why in leaks:
            self.err("%s: customData %s" % (label, why))
        if leaks:
            return None
        try:
            value = self.evaluate(self.ast(cd)) if isinstance(cd, str) else None
        except NotConstant:
            value = None
        if not isinstance(value, str):
            self.err("%s: customData must be a constant (base64 of the static cloudInit "
                     "variable)" % label)
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.err("%s: customData is not base64" % label)
            return None
        if len(raw) > CUSTOM_DATA_MAX:
            self.err("%s: decoded customData is %d bytes, over Azure's %d" %
                     (label, len(raw), CUSTOM_DATA_MAX))
        if not raw.startswith(b"#cloud-config"):
            self.err("%s: decoded customData does not start with #cloud-config" % label)
        return value

    def user_data_object(self, node, depth=0):
        """(keys -> value or None when computed) of a config object expression, or None."""
        if depth > 10:
            return None
        r = self.resolve(node)
        if r is not None:
            v = r[0]
            if isinstance(v, dict):
                return dict(v)
            if isinstance(v, str) and is_expression(v):
                return self.user_data_object(self.ast(v), depth + 1)
            return None
        if isinstance(node, Call) and node.fn == "union":
            out = {}
            for a in node.args:
                part = self.user_data_object(a, depth + 1)
                if part is None:
                    return None
                out.update(part)
            return out
        if isinstance(node, Call) and node.fn == "createobject" and len(node.args) % 2 == 0:
            out = {}
            for k, v in zip(node.args[0::2], node.args[1::2]):
                if not isinstance(k, Str):
                    return None
                out[k.value] = v.value if isinstance(v, (Str, Num)) else None
            return out
        if isinstance(node, Call) and node.fn == "json" and node.args and \
                isinstance(node.args[0], Str):
            try:
                v = json.loads(node.args[0].value)
            except ValueError:
                return None
            return v if isinstance(v, dict) else None
        return None

    def check_user_data(self, label, ud):
        for why in self.secret_leaks({"userData": ud}):
            self.err("%s: userData %s" % (label, why))
        if not isinstance(ud, str):
            self.err("%s: userData is not a string" % label)
            return
        node = self.ast(ud)
        config = None
        try:
            value = self.evaluate(node)
            config = json.loads(base64.b64decode(value, validate=True))
        except NotConstant:
            if isinstance(node, Call) and node.fn == "base64" and len(node.args) == 1 and \
                    isinstance(node.args[0], Call) and node.args[0].fn == "string" and \
                    len(node.args[0].args) == 1:
                config = self.user_data_object(node.args[0].args[0])
        except (binascii.Error, ValueError):
            config = None
        if not isinstance(config, dict):
            self.err("%s: userData must be base64(string(<config object>)) so its fields can "
                     "be checked" % label)
            return
        if self.fields is None:
            return
        for k, v in config.items():
            spec = self.fields.get(k)
            if spec is None:
                self.err("%s: userData field '%s' is not a pqrt config field (pqrt refuses "
                         "unknown fields at start-up)" % (label, k))
                continue
            kind, secret, choices = spec
            if isinstance(v, str) and is_expression(v):
                continue
            if v is None:
                continue
            if secret and not (v == "" or (isinstance(v, str) and
                                           re.fullmatch(r"keyvault:[A-Za-z0-9-]+", v))):
                self.err("%s: userData field '%s' holds a value; secret fields may only be "
                         "keyvault:NAME indirections" % (label, k))
            ok = {"STRING": isinstance(v, str),
                  "CHOICE": isinstance(v, str) and (choices is None or v in choices),
                  "INTEGER": isinstance(v, int) and not isinstance(v, bool),
                  "BOOLEAN": isinstance(v, bool)}[kind]
            if not ok:
                self.err("%s: userData field '%s' = %r does not fit its kind %s%s"
                         % (label, k, v, kind.lower(),
                            " (%s)" % "|".join(choices) if choices else ""))

    def check_services(self):
        for res in self.res:
            t, props, label = res["ltype"], res["body"].get("properties") or {}, res["label"]
            if t == "microsoft.storage/storageaccounts":
                if res["body"].get("kind") != "StorageV2":
                    self.err("%s: kind must be StorageV2" % label)
                for k, want in (("minimumTlsVersion", "TLS1_2"), ("allowBlobPublicAccess", False),
                                ("supportsHttpsTrafficOnly", True)):
                    if props.get(k) != want:
                        self.err("%s: properties.%s must be %s" % (label, k, json.dumps(want)))
                if "allowSharedKeyAccess" not in props:
                    self.err("%s: set properties.allowSharedKeyAccess (a parameter, default "
                             "false)" % label)
            elif t == "microsoft.storage/storageaccounts/blobservices/containers":
                if props.get("publicAccess", "None") != "None":
                    self.err("%s: publicAccess must be None" % label)
            elif t == "microsoft.keyvault/vaults":
                for k in ("enableRbacAuthorization", "enablePurgeProtection"):
                    if props.get(k) is not True:
                        self.err("%s: properties.%s must be true" % (label, k))
                if props.get("enableSoftDelete") is False:
                    self.err("%s: soft delete must stay on" % label)
                if props.get("accessPolicies"):
                    self.err("%s: use RBAC, not access policies" % label)
            elif t == "microsoft.cache/redis":
                if props.get("enableNonSslPort") is not False:
                    self.err("%s: enableNonSslPort must be false" % label)
                if props.get("minimumTlsVersion") != "1.2":
                    self.err("%s: minimumTlsVersion must be '1.2'" % label)
                if props.get("publicNetworkAccess") != "Disabled":
                    self.err("%s: publicNetworkAccess must be Disabled" % label)
            elif t == "microsoft.network/networksecuritygroups":
                for rule in props.get("securityRules") or []:
                    rp = (rule or {}).get("properties") or {}
                    srcs = [rp.get("sourceAddressPrefix")] + list(rp.get("sourceAddressPrefixes")
                                                                  or [])
                    if rp.get("direction") == "Inbound" and rp.get("access") == "Allow" and \
                            any(s in ("*", "Internet", "0.0.0.0/0", "Any") for s in srcs):
                        self.err("%s: rule '%s' allows inbound traffic from anywhere"
                                 % (label, rule.get("name")))

    def check_http(self):
        roots = {"parameters": self.params, "outputs": self.outputs,
                 "resources": self.doc.get("resources")}
        for where, value in roots.items():
            for path, is_key, s in walk_json(value, "$." + where):
                texts = [literal_text(s)] if not is_expression(s) else \
                    [n.value for n in walk_nodes(self.ast(s)) if isinstance(n, Str)]
                for txt in texts:
                    for m in re.finditer(r"http://\S*", txt):
                        if not HTTP_OK.match(m.group()):
                            self.err("%s: plain http:// address %s" % (path, m.group()))


# --- the parameters file ------------------------------------------------------------------------

def check_parameters_file(pdoc, template, checker):
    errs = []
    tparams = template.get("parameters") if isinstance(template.get("parameters"), dict) else {}
    tlow = {k.lower(): (k, v) for k, v in tparams.items()}
    given = pdoc.get("parameters") if isinstance(pdoc.get("parameters"), dict) else {}
    glow = {k.lower() for k in given}
    for name, entry in given.items():
        if name.lower() not in tlow:
            errs.append("parameters file sets '%s', which the template does not declare" % name)
            continue
        _, decl = tlow[name.lower()]
        ptype = str(decl.get("type", "")).lower()
        if not isinstance(entry, dict) or "value" not in entry:
            continue
        value = entry["value"]
        if ptype in SECURE_TYPES or (ptype in ("string", "object", "array") and
                                     checker.secret_like(name)):
            if value not in ("", None, {}):
                errs.append("parameters file gives %s '%s' a literal value; leave it out or use "
                            "a Key Vault reference" % (decl.get("type"), name))
            continue
        want = {"string": str, "int": int, "bool": bool, "object": dict, "array": list}.get(ptype)
        if want and (not isinstance(value, want) or (want is int and isinstance(value, bool))):
            errs.append("parameters file gives '%s' a %s, the template declares %s"
                        % (name, type(value).__name__, decl.get("type")))
        allowed = decl.get("allowedValues")
        if isinstance(allowed, list) and value not in allowed:
            errs.append("parameters file gives '%s' %r, not one of %s" % (name, value, allowed))
        for _, _, s in walk_json(value):
            for rx, what in SECRET_PATTERNS:
                if rx.search(s):
                    errs.append("parameters file value of '%s' looks like %s" % (name, what))
    for k, (name, decl) in tlow.items():
        if isinstance(decl, dict) and "defaultValue" not in decl and k not in glow:
            errs.append("parameter '%s' has no default and the parameters file does not set it"
                        % name)
    return errs


# --- fields.def ---------------------------------------------------------------------------------

def load_fields(path):
    fields = dict(DEPLOY_FIELDS)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^\s*//[^\n]*", "", text)   # whole-line comments only ("https://" is data)
    for m in re.finditer(r"PQRT_FIELD_(STRING|CHOICE|INTEGER|BOOLEAN)\(\s*(\w+)\s*,", text):
        kind, name = m.groups()
        rest = text[m.end():m.end() + 400]
        secret, choices = False, None
        if kind == "STRING":
            parts = re.match(r'\s*"(?:[^"\\]|\\.)*"\s*,\s*(true|false)', rest)
            secret = bool(parts and parts.group(1) == "true")
        elif kind == "CHOICE":
            parts = re.match(r'\s*"(?:[^"\\]|\\.)*"\s*,\s*"([^"]*)"', rest)
            choices = parts.group(1).split("|") if parts else None
        fields[name] = (kind, secret, choices)
    return fields


# --- driver -------------------------------------------------------------------------------------

def load_schema(name):
    with open(os.path.join(HERE, "schema", name), encoding="utf-8") as f:
        return json.load(f)


def schema_errors(doc, schema):
    v = jsonschema.Draft4Validator(schema)
    out = []
    for e in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p
                              for p in e.absolute_path)
        out.append("schema: %s: %s" % (where, e.message))
    return out


def load_checked(path, schema, errs):
    """The document at `path`, strict, formatted as json.dumps writes it and valid against
    `schema` (its errors appended to errs); None when it cannot be read, else (doc, schema_ok)."""
    try:
        doc, canonical = load_strict(path)
    except Fault as e:
        errs.append(str(e))
        return None
    if not canonical:
        errs.append("not formatted as json.dumps(obj, indent=2) plus a newline (as "
                    "arm/render_cloud_init.py rewrites the template)")
    serrs = schema_errors(doc, load_schema(schema))
    errs.extend(serrs)
    return doc, not serrs


def check_template(path, params_paths, today, fields):
    """{file: [errors]} for a template and its parameters files."""
    results = {path: []}
    loaded = load_checked(path, "deploymentTemplate.schema.json", results[path])
    if loaded is None:
        return results
    doc, schema_ok = loaded
    checker = Checker(path, today, fields)
    if schema_ok:
        try:
            checker.run(doc)
        except Fault as e:
            checker.err(str(e))
        results[path].extend(checker.errors)
    for pp in params_paths:
        results[pp] = []
        ploaded = load_checked(pp, "deploymentParameters.schema.json", results[pp])
        if ploaded is not None and ploaded[1] and isinstance(doc, dict):
            results[pp].extend(check_parameters_file(ploaded[0], doc, checker))
    return results


def main(argv):
    ap = argparse.ArgumentParser(description="Offline checks of an ARM template (see the top "
                                             "of this file for the list).")
    ap.add_argument("template", help="template file, or a folder holding azuredeploy.json")
    ap.add_argument("--parameters", action="append", default=[],
                    help="parameters file to check against the template (repeatable)")
    ap.add_argument("--today", default=os.environ.get("ARMCHECK_TODAY"),
                    help="date the apiVersion age is measured from (default: today, or "
                         "$ARMCHECK_TODAY)")
    ap.add_argument("--fields", default=os.path.join(REPO, "config", "fields.def"),
                    help="pqrt's config/fields.def ('none' skips the userData field check)")
    a = ap.parse_args(argv)
    try:
        today = datetime.date.fromisoformat(a.today) if a.today else datetime.date.today()
    except ValueError:
        ap.error("--today wants YYYY-MM-DD")
    fields = None
    if a.fields != "none":
        try:
            fields = load_fields(a.fields)
        except OSError as e:
            ap.error("--fields %s: %s" % (a.fields, e.strerror))
    template, params = a.template, list(a.parameters)
    if os.path.isdir(template):
        folder = template
        template = os.path.join(folder, "azuredeploy.json")
        if not a.parameters:
            params = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                            if re.fullmatch(r"azuredeploy\.parameters.*\.json", f))
    results = check_template(template, params, today, fields)
    total = 0
    for f, errs in results.items():
        for e in errs:
            print("armcheck: %s: error: %s" % (f, e))
        total += len(errs)
        if not errs:
            print("armcheck: %s: ok" % f)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
