/*
 * A small, strict JSON parser (RFC 8259) that builds a tree, for the model
 * configurations stored in Keras files.
 *
 * Strict means: one value with only whitespace around it, no comments, no
 * trailing commas, no single quotes, no leading zeros or '+' signs, no raw
 * control characters in strings, well-formed UTF-8 only, and no duplicate
 * member names in an object. One extension is accepted because Python's json
 * module (which writes Keras configurations) emits it by default: the
 * literals NaN, Infinity and -Infinity.
 */
#ifndef NNB_JSON_H
#define NNB_JSON_H

#include "nnbatch.h"

#include <stddef.h>

/* Deepest nesting of arrays and objects accepted. Keras configurations nest
 * about ten levels; the limit keeps a hostile input from exhausting the
 * stack, because the parser recurses once per level. */
#define NNB_JSON_MAX_DEPTH 256

typedef enum nnb_json_type {
    NNB_JSON_NULL = 0,
    NNB_JSON_BOOL,
    NNB_JSON_NUMBER,
    NNB_JSON_STRING,
    NNB_JSON_ARRAY,
    NNB_JSON_OBJECT
} nnb_json_type;

typedef struct nnb_json_value nnb_json_value;

/* One parsed value. Only the fields of its type are set. */
struct nnb_json_value {
    nnb_json_type type;
    int boolean;           /* NNB_JSON_BOOL: 0 or 1 */
    double number;         /* NNB_JSON_NUMBER */
    char *string;          /* NNB_JSON_STRING: UTF-8, NUL-terminated */
    nnb_json_value *items; /* NNB_JSON_ARRAY elements, or NNB_JSON_OBJECT member values */
    char **keys;           /* NNB_JSON_OBJECT member names, parallel to items */
    int count;             /* number of elements or members */
};

/* Where and why parsing failed. Lines and columns count from 1; the column
 * counts bytes. */
typedef struct nnb_json_error {
    int line;
    int column;
    char message[160];
} nnb_json_error;

/* Parse `length` bytes of `text` (which need not be NUL-terminated) into a
 * new tree *root. Strings containing the escape \u0000 are rejected, so
 * every string and member name is a C string. Returns NNB_OK,
 * NNB_ERR_FORMAT with *error filled when the text is not valid JSON, or
 * NNB_ERR_NO_MEMORY. */
nnb_status nnb_json_parse(const char *text, size_t length, nnb_json_value **root,
                          nnb_json_error *error);

/* Release a tree returned by nnb_json_parse(); NULL is ignored. */
void nnb_json_free(nnb_json_value *root);

/* Returns the value of member `key` of `object`, or NULL when `object` is
 * NULL, is not an object or has no such member. */
const nnb_json_value *nnb_json_get(const nnb_json_value *object, const char *key);

/* Returns the type's name as JSON texts spell it ("object", "string", ...). */
const char *nnb_json_type_name(nnb_json_type type);

#endif
