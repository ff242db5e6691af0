/* doc.c: the read-only dr_doc tree: JSON parsed with jansson, XML with expat (no DTDs, no entities), path lookup and typed getters. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>
#include <jansson.h>

#include "dr/doc.h"
#include "dr/util.h"

struct dr_node {
    dr_node_kind kind;
    const char *name;
    const char *text;
    dr_node *parent;
    dr_node *first;
    dr_node *last;
    dr_node *next;
    size_t count;
};

/* Nodes and strings live in one arena per document, so freeing is one walk over a few blocks. */
typedef struct arena_block {
    struct arena_block *prev;
    size_t used;
    size_t cap;
    max_align_t data[];
} arena_block;

struct dr_doc {
    arena_block *blocks;
    dr_node *root;
};

#define ARENA_MIN 8192

static void *arena_alloc(dr_doc *d, size_t n)
{
    arena_block *b = d->blocks;
    size_t align = sizeof(max_align_t);

    n = (n + align - 1) / align * align;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_MIN ? n : ARENA_MIN;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->prev = d->blocks;
        b->used = 0;
        b->cap = cap;
        d->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static const char *arena_strndup(dr_doc *d, const char *s, size_t n)
{
    char *p = arena_alloc(d, n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static dr_node *node_new(dr_doc *d, dr_node *parent, dr_node_kind kind, const char *name)
{
    dr_node *n = arena_alloc(d, sizeof(*n));

    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->name = name ? name : "";
    n->parent = parent;
    if (parent) {
        if (parent->last)
            parent->last->next = n;
        else
            parent->first = n;
        parent->last = n;
        parent->count++;
    }
    return n;
}

static dr_doc *doc_new(void)
{
    return calloc(1, sizeof(dr_doc));
}

void dr_doc_free(dr_doc *doc)
{
    if (!doc)
        return;
    for (arena_block *b = doc->blocks, *prev; b; b = prev) {
        prev = b->prev;
        free(b);
    }
    free(doc);
}

const dr_node *dr_doc_root(const dr_doc *doc)
{
    return doc ? doc->root : NULL;
}

/* --- JSON --- */

/* Shortest text that reads back as the same double, so 12.5 stays "12.5". */
static void format_real(double v, char *out, size_t outlen)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static int json_build(dr_doc *d, dr_node *parent, const char *name, json_t *v, dr_node **out)
{
    dr_node *n;
    char num[40];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *child;
        n = node_new(d, parent, DR_NODE_OBJECT, name);
        if (!n)
            return DR_ENOMEM;
        json_object_foreach(v, key, child) {
            const char *k = arena_strndup(d, key, strlen(key));
            if (!k || json_build(d, n, k, child, NULL) != 0)
                return DR_ENOMEM;
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *child;
        n = node_new(d, parent, DR_NODE_ARRAY, name);
        if (!n)
            return DR_ENOMEM;
        json_array_foreach(v, i, child) {
            if (json_build(d, n, "", child, NULL) != 0)
                return DR_ENOMEM;
        }
        break;
    }
    case JSON_STRING:
        n = node_new(d, parent, DR_NODE_STRING, name);
        if (!n || !(n->text = arena_strndup(d, json_string_value(v), json_string_length(v))))
            return DR_ENOMEM;
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        n = node_new(d, parent, DR_NODE_NUMBER, name);
        if (!n || !(n->text = arena_strndup(d, num, strlen(num))))
            return DR_ENOMEM;
        break;
    case JSON_REAL:
        format_real(json_real_value(v), num, sizeof(num));
        n = node_new(d, parent, DR_NODE_NUMBER, name);
        if (!n || !(n->text = arena_strndup(d, num, strlen(num))))
            return DR_ENOMEM;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        n = node_new(d, parent, DR_NODE_BOOL, name);
        if (!n)
            return DR_ENOMEM;
        n->text = json_is_true(v) ? "true" : "false";
        break;
    default:
        n = node_new(d, parent, DR_NODE_NULL, name);
        if (!n)
            return DR_ENOMEM;
        break;
    }
    if (out)
        *out = n;
    return 0;
}

int dr_doc_parse_json(const char *text, size_t len, dr_doc **out, dr_error *err)
{
    json_error_t jerr;
    json_t *v;
    dr_doc *d;
    int rc;

    *out = NULL;
    if (!text)
        return dr_error_set(err, DR_EINVAL, "JSON parse error: no input");
    v = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!v)
        return dr_error_set(err, DR_EPARSE, "JSON parse error at line %d column %d: %s", jerr.line,
                            jerr.column, jerr.text);
    d = doc_new();
    if (!d) {
        json_decref(v);
        return dr_error_set(err, DR_ENOMEM, "JSON parse: out of memory");
    }
    rc = json_build(d, NULL, "", v, &d->root);
    json_decref(v);
    if (rc != 0) {
        dr_doc_free(d);
        return dr_error_set(err, DR_ENOMEM, "JSON parse: out of memory");
    }
    *out = d;
    return 0;
}

/* --- XML --- */

typedef struct xml_ctx {
    XML_Parser parser;
    dr_doc *doc;
    dr_node *cur;   /* innermost open element */
    dr_buf text;    /* character data of the open elements, see text_start */
    size_t *text_start; /* per depth: where the element's own text begins in `text` */
    size_t depth, cap;
    int failed;     /* DR_E* code */
    const char *why; /* static reason when we stopped the parser ourselves */
} xml_ctx;

static void xml_fail(xml_ctx *x, int code, const char *why)
{
    if (!x->failed) {
        x->failed = code;
        x->why = why;
    }
    XML_StopParser(x->parser, XML_FALSE);
}

static const char *local_name(const char *name)
{
    const char *colon = strrchr(name, ':');

    return colon ? colon + 1 : name;
}

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xml_ctx *x = ud;
    const char *lname = local_name(name);
    dr_node *n;

    (void)attrs;
    if (x->failed)
        return;
    if (!x->cur && x->doc->root) {
        xml_fail(x, DR_EPARSE, "more than one root element");
        return;
    }
    if (x->cur && x->cur->kind != DR_NODE_OBJECT) {
        /* The parent has a child element: it is an object, and its text so far was only layout. */
        x->cur->kind = DR_NODE_OBJECT;
        x->cur->text = NULL;
    }
    if (x->depth == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        size_t *p = realloc(x->text_start, cap * sizeof(*p));
        if (!p) {
            xml_fail(x, DR_ENOMEM, "out of memory");
            return;
        }
        x->text_start = p;
        x->cap = cap;
    }
    if (x->depth > 0) {
        /* Drop the parent's mixed text: objects have no text. */
        x->text.len = x->text_start[x->depth - 1];
        if (x->text.data)
            x->text.data[x->text.len] = '\0';
    }
    x->text_start[x->depth++] = x->text.len;
    n = node_new(x->doc, x->cur, DR_NODE_STRING, arena_strndup(x->doc, lname, strlen(lname)));
    if (!n || !n->name) {
        xml_fail(x, DR_ENOMEM, "out of memory");
        return;
    }
    if (!x->cur)
        x->doc->root = n;
    x->cur = n;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
    xml_ctx *x = ud;
    dr_node *n = x->cur;
    size_t start;

    (void)name;
    if (x->failed || !n)
        return;
    start = x->text_start[--x->depth];
    if (n->kind == DR_NODE_STRING) {
        n->text = arena_strndup(x->doc, dr_buf_str(&x->text) + start, x->text.len - start);
        if (!n->text) {
            xml_fail(x, DR_ENOMEM, "out of memory");
            return;
        }
    }
    x->text.len = start;
    if (x->text.data)
        x->text.data[start] = '\0';
    x->cur = n->parent;
}

static void XMLCALL xml_chars(void *ud, const XML_Char *s, int len)
{
    xml_ctx *x = ud;

    if (x->failed || !x->cur || x->cur->kind == DR_NODE_OBJECT)
        return;
    if (dr_buf_append(&x->text, s, (size_t)len) != 0)
        xml_fail(x, DR_ENOMEM, "out of memory");
}

static void XMLCALL xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                                int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    xml_fail(ud, DR_EPARSE, "DTDs are refused");
}

static void XMLCALL xml_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                                    int value_len, const XML_Char *base, const XML_Char *sysid,
                                    const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    xml_fail(ud, DR_EPARSE, "entity declarations are refused");
}

static int XMLCALL xml_external_entity(XML_Parser p, const XML_Char *context, const XML_Char *base,
                                       const XML_Char *sysid, const XML_Char *pubid)
{
    (void)p, (void)context, (void)base, (void)sysid, (void)pubid;
    return XML_STATUS_ERROR; /* never fetch anything */
}

int dr_doc_parse_xml(const char *text, size_t len, dr_doc **out, dr_error *err)
{
    xml_ctx x;
    int rc = 0;

    *out = NULL;
    if (!text)
        return dr_error_set(err, DR_EINVAL, "XML parse error: no input");
    if (len > INT32_MAX)
        return dr_error_set(err, DR_EINVAL, "XML parse error: document too large");
    memset(&x, 0, sizeof(x));
    x.doc = doc_new();
    x.parser = XML_ParserCreate("UTF-8");
    if (!x.doc || !x.parser) {
        rc = dr_error_set(err, DR_ENOMEM, "XML parse: out of memory");
        goto out;
    }
    XML_SetUserData(x.parser, &x);
    XML_SetElementHandler(x.parser, xml_start, xml_end);
    XML_SetCharacterDataHandler(x.parser, xml_chars);
    XML_SetStartDoctypeDeclHandler(x.parser, xml_doctype);
    XML_SetEntityDeclHandler(x.parser, xml_entity_decl);
    XML_SetExternalEntityRefHandler(x.parser, xml_external_entity);
    XML_SetParamEntityParsing(x.parser, XML_PARAM_ENTITY_PARSING_NEVER);
    if (XML_Parse(x.parser, text, (int)len, XML_TRUE) != XML_STATUS_OK || x.failed) {
        unsigned long line = XML_GetCurrentLineNumber(x.parser);
        unsigned long col = XML_GetCurrentColumnNumber(x.parser);
        const char *why = x.why ? x.why : XML_ErrorString(XML_GetErrorCode(x.parser));
        rc = dr_error_set(err, x.failed == DR_ENOMEM ? DR_ENOMEM : DR_EPARSE,
                          "XML parse error at line %lu column %lu: %s", line, col + 1, why);
        goto out;
    }
    if (!x.doc->root) {
        rc = dr_error_set(err, DR_EPARSE, "XML parse error: no root element");
        goto out;
    }
    *out = x.doc;
    x.doc = NULL;
out:
    if (x.parser)
        XML_ParserFree(x.parser);
    dr_doc_free(x.doc);
    dr_buf_free(&x.text);
    free(x.text_start);
    return rc;
}

/* --- navigation --- */

dr_node_kind dr_node_kind_of(const dr_node *n)
{
    return n ? n->kind : DR_NODE_NULL;
}

const char *dr_node_name(const dr_node *n)
{
    return n ? n->name : NULL;
}

const char *dr_node_text(const dr_node *n)
{
    return n ? n->text : NULL;
}

size_t dr_node_count(const dr_node *n)
{
    return n ? n->count : 0;
}

const dr_node *dr_node_first(const dr_node *n)
{
    return n ? n->first : NULL;
}

const dr_node *dr_node_next(const dr_node *n)
{
    return n ? n->next : NULL;
}

const dr_node *dr_node_next_named(const dr_node *n)
{
    if (!n)
        return NULL;
    for (const dr_node *s = n->next; s; s = s->next)
        if (strcmp(s->name, n->name) == 0)
            return s;
    return NULL;
}

static const dr_node *step(const dr_node *n, const char *s, size_t len)
{
    int numeric = len > 0;

    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            numeric = 0;
    if (numeric) {
        size_t idx = 0;
        for (size_t i = 0; i < len; i++) {
            if (idx > (SIZE_MAX - 9) / 10)
                return NULL;
            idx = idx * 10 + (size_t)(s[i] - '0');
        }
        for (const dr_node *c = n->first; c; c = c->next, idx--)
            if (idx == 0)
                return c;
        return NULL;
    }
    for (const dr_node *c = n->first; c; c = c->next)
        if (strlen(c->name) == len && memcmp(c->name, s, len) == 0)
            return c;
    return NULL;
}

const dr_node *dr_node_get(const dr_node *n, const char *path)
{
    const char *p = path;

    if (!n || !path)
        return n && !path ? n : NULL;
    while (n && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        n = step(n, p, len);
        p += len;
        if (*p == '.')
            p++;
    }
    return n;
}

static const dr_node *at(const dr_node *n, const char *path)
{
    return path && *path ? dr_node_get(n, path) : n;
}

const char *dr_node_str(const dr_node *n, const char *path)
{
    return dr_node_text(at(n, path));
}

int dr_node_bool(const dr_node *n, const char *path, int dflt)
{
    const char *t = dr_node_str(n, path);

    if (!t)
        return dflt;
    if (strcasecmp(t, "true") == 0)
        return 1;
    if (strcasecmp(t, "false") == 0)
        return 0;
    return dflt;
}

static int parse_number(const char *t, double *v)
{
    char *end;

    if (!t || !*t)
        return -1;
    errno = 0;
    *v = strtod(t, &end);
    if (errno || *end != '\0' || end == t || !isfinite(*v))
        return -1;
    return 0;
}

double dr_node_num(const dr_node *n, const char *path, double dflt)
{
    const dr_node *x = at(n, path);
    double v;

    if (!x || (x->kind != DR_NODE_NUMBER && x->kind != DR_NODE_STRING) || parse_number(x->text, &v) != 0)
        return dflt;
    return v;
}

int dr_node_time(const dr_node *n, const char *path, double *epoch)
{
    const dr_node *x = at(n, path);

    if (!x || !x->text)
        return DR_ENOTFOUND;
    if (parse_number(x->text, epoch) == 0)
        return 0;
    return dr_time_parse(x->text, epoch) == 0 ? 0 : DR_EPARSE;
}
