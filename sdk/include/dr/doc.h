/* dr/doc.h: one read-only tree for parsed JSON and XML documents (AWS responses, files). */
#ifndef DR_DOC_H
#define DR_DOC_H

/*
 * Ownership: a dr_doc owns all its nodes and strings; dr_doc_free() frees
 * them. Every dr_node pointer and every string returned by these functions
 * is borrowed from its document and dies with it.
 *
 * Mapping:
 *  - JSON: object -> DR_NODE_OBJECT whose children carry the member names;
 *    array -> DR_NODE_ARRAY whose children have the name "" ; strings,
 *    numbers, booleans and null -> leaves (dr_node_text gives the text:
 *    "abc", "12.5", "true", NULL for null).
 *  - XML: the document's root element is the root node. An element with
 *    child elements is a DR_NODE_OBJECT whose children keep document order
 *    (repeated names stay repeated: iterate with dr_node_next_named). An
 *    element with only text is a DR_NODE_STRING. Namespace prefixes are
 *    dropped, attributes are ignored. DTDs and entity declarations are
 *    refused; nothing is fetched from the network.
 *
 * Paths are member names joined with '.', e.g. "Table.StreamSpecification.
 * StreamEnabled". Each step takes the first child with that name; a step
 * that is a decimal number takes the child at that index (any kind).
 */

#include <stddef.h>

#include "dr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dr_doc dr_doc;
typedef struct dr_node dr_node;

typedef enum dr_node_kind {
    DR_NODE_NULL = 0,
    DR_NODE_OBJECT = 1,
    DR_NODE_ARRAY = 2,
    DR_NODE_STRING = 3,
    DR_NODE_NUMBER = 4,
    DR_NODE_BOOL = 5
} dr_node_kind;

/* Parse; on success *out is a new document the caller frees. Errors say where (line/column or offset). */
int dr_doc_parse_json(const char *text, size_t len, dr_doc **out, dr_error *err);
int dr_doc_parse_xml(const char *text, size_t len, dr_doc **out, dr_error *err);
void dr_doc_free(dr_doc *doc);

const dr_node *dr_doc_root(const dr_doc *doc);

dr_node_kind dr_node_kind_of(const dr_node *n);
const char *dr_node_name(const dr_node *n); /* member or element name; "" for array items */
const char *dr_node_text(const dr_node *n); /* leaf text; NULL for objects, arrays and null */

/* Lookup by path (see above); NULL when absent or when n is NULL. */
const dr_node *dr_node_get(const dr_node *n, const char *path);

/* Children and siblings, in document order. All accept NULL and return NULL/0. */
size_t dr_node_count(const dr_node *n);
const dr_node *dr_node_first(const dr_node *n);
const dr_node *dr_node_next(const dr_node *n);
const dr_node *dr_node_next_named(const dr_node *n); /* next sibling with the same name */

/* Typed getters of the leaf at path (path NULL or "" = n itself). */
const char *dr_node_str(const dr_node *n, const char *path);          /* NULL when absent */
int dr_node_bool(const dr_node *n, const char *path, int dflt);       /* true/false text or JSON bool */
double dr_node_num(const dr_node *n, const char *path, double dflt);  /* dflt when absent or not a number */
/* Timestamp: JSON epoch seconds (may be fractional) or ISO-8601 text; 0 with *epoch set, or DR_ENOTFOUND / DR_EPARSE. */
int dr_node_time(const dr_node *n, const char *path, double *epoch);

#ifdef __cplusplus
}
#endif

#endif /* DR_DOC_H */
