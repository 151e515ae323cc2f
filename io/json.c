/* The strict JSON parser declared in io/json.h. */
#include "io/json.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum length of a number token, in bytes. A double needs at most 17
 * significant digits, so the limit only bounds the copy made for strtod(). */
#define MAX_NUMBER_LENGTH 512

typedef struct json_parser {
    const char *text;
    size_t length;
    size_t position;
    int depth;
    int out_of_memory;
    nnb_json_error *error;
} json_parser;

/* Record the first error at the current position and return -1. */
static int parse_error(json_parser *parser, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int parse_error(json_parser *parser, const char *format, ...)
{
    nnb_json_error *error = parser->error;
    if (error->message[0] != '\0')
        return -1;

    int line = 1;
    size_t line_start = 0;
    size_t end = parser->position < parser->length ? parser->position : parser->length;
    for (size_t i = 0; i < end; i++) {
        if (parser->text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    error->line = line;
    error->column = (int)(end - line_start + 1);

    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return -1;
}

static int no_memory(json_parser *parser)
{
    parser->out_of_memory = 1;
    return parse_error(parser, "out of memory");
}

static int at_end(const json_parser *parser)
{
    return parser->position >= parser->length;
}

static unsigned char current(const json_parser *parser)
{
    return (unsigned char)parser->text[parser->position];
}

static void skip_whitespace(json_parser *parser)
{
    while (!at_end(parser)) {
        unsigned char c = current(parser);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        parser->position++;
    }
}

/* Describe the byte at the current position for messages: "'x'", "byte
 * 0x07" or "the end of the text". */
static void describe_current(const json_parser *parser, char *buffer, size_t size)
{
    if (at_end(parser)) {
        snprintf(buffer, size, "the end of the text");
        return;
    }
    unsigned char c = current(parser);
    if (c >= 0x20 && c < 0x7f)
        snprintf(buffer, size, "'%c'", c);
    else
        snprintf(buffer, size, "byte 0x%02x", c);
}

static int unexpected(json_parser *parser, const char *expected)
{
    char found[32];
    describe_current(parser, found, sizeof found);
    return parse_error(parser, "expected %s, found %s", expected, found);
}

static int parse_value(json_parser *parser, nnb_json_value *value);

/* ---- Literals and numbers ----------------------------------------------- */

static int match_word(json_parser *parser, const char *word)
{
    size_t length = strlen(word);
    if (parser->length - parser->position < length
        || memcmp(parser->text + parser->position, word, length) != 0)
        return 0;
    parser->position += length;
    return 1;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Skip one or more digits; returns the count skipped. */
static size_t skip_digits(json_parser *parser)
{
    size_t start = parser->position;
    while (!at_end(parser) && is_digit(current(parser)))
        parser->position++;
    return parser->position - start;
}

/* Parse a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(json_parser *parser, nnb_json_value *value)
{
    size_t start = parser->position;
    if (current(parser) == '-')
        parser->position++;

    if (at_end(parser) || !is_digit(current(parser)))
        return unexpected(parser, "a digit");
    if (current(parser) == '0') {
        parser->position++;
        if (!at_end(parser) && is_digit(current(parser)))
            return parse_error(parser, "a number must not have a leading zero");
    } else {
        skip_digits(parser);
    }

    if (!at_end(parser) && current(parser) == '.') {
        parser->position++;
        if (skip_digits(parser) == 0)
            return unexpected(parser, "a digit after the decimal point");
    }
    if (!at_end(parser) && (current(parser) == 'e' || current(parser) == 'E')) {
        parser->position++;
        if (!at_end(parser) && (current(parser) == '+' || current(parser) == '-'))
            parser->position++;
        if (skip_digits(parser) == 0)
            return unexpected(parser, "a digit in the exponent");
    }

    size_t length = parser->position - start;
    if (length > MAX_NUMBER_LENGTH) {
        parser->position = start;
        return parse_error(parser, "number is longer than %d characters", MAX_NUMBER_LENGTH);
    }

    /* strtod() reads the decimal point of the current locale, so give it
     * that character in place of '.'. */
    char buffer[MAX_NUMBER_LENGTH + 1];
    memcpy(buffer, parser->text + start, length);
    buffer[length] = '\0';
    char point = localeconv()->decimal_point[0];
    if (point != '.' && point != '\0') {
        char *dot = strchr(buffer, '.');
        if (dot != NULL)
            *dot = point;
    }

    errno = 0;
    char *end = NULL;
    double number = strtod(buffer, &end);
    if (end != buffer + length) {
        parser->position = start;
        return parse_error(parser, "cannot convert number '%s'", buffer);
    }
    if (errno == ERANGE && isinf(number)) {
        parser->position = start;
        return parse_error(parser, "number %s is out of the range of a double", buffer);
    }
    value->type = NNB_JSON_NUMBER;
    value->number = number;
    return 0;
}

/* ---- Strings ------------------------------------------------------------- */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read the four hex digits after "\u". */
static int read_hex4(json_parser *parser, unsigned *code)
{
    if (parser->length - parser->position < 4) {
        parser->position = parser->length;
        return unexpected(parser, "four hex digits after \\u");
    }
    unsigned result = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_value(current(parser));
        if (digit < 0)
            return unexpected(parser, "a hex digit in a \\u escape");
        result = result * 16 + (unsigned)digit;
        parser->position++;
    }
    *code = result;
    return 0;
}

static size_t encode_utf8(unsigned code, char *out)
{
    if (code < 0x80) {
        out[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (char)(0xc0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3f));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (char)(0xe0 | (code >> 12));
        out[1] = (char)(0x80 | ((code >> 6) & 0x3f));
        out[2] = (char)(0x80 | (code & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (code >> 18));
    out[1] = (char)(0x80 | ((code >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((code >> 6) & 0x3f));
    out[3] = (char)(0x80 | (code & 0x3f));
    return 4;
}

/* Decode the escape after a backslash into `out`; returns the bytes written
 * or -1. */
static int decode_escape(json_parser *parser, char *out)
{
    if (at_end(parser))
        return unexpected(parser, "an escape character after '\\'");
    unsigned char c = current(parser);
    parser->position++;
    switch (c) {
    case '"': out[0] = '"'; return 1;
    case '\\': out[0] = '\\'; return 1;
    case '/': out[0] = '/'; return 1;
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default:
        parser->position--;
        return unexpected(parser, "one of \" \\ / b f n r t u after '\\'");
    }

    unsigned code = 0;
    if (read_hex4(parser, &code) != 0)
        return -1;
    if (code == 0) {
        parser->position -= 6;
        return parse_error(parser, "the escape \\u0000 is not supported in strings");
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
        parser->position -= 6;
        return parse_error(parser, "\\u%04x is a low surrogate without a high surrogate "
                                   "before it", code);
    }
    if (code >= 0xd800 && code <= 0xdbff) {
        if (!match_word(parser, "\\u"))
            return unexpected(parser, "a \\u low surrogate after a high surrogate");
        unsigned low = 0;
        if (read_hex4(parser, &low) != 0)
            return -1;
        if (low < 0xdc00 || low > 0xdfff) {
            parser->position -= 6;
            return parse_error(parser, "\\u%04x is not a low surrogate; a high surrogate "
                                       "must be followed by one", low);
        }
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
    }
    return (int)encode_utf8(code, out);
}

/* Length of the well-formed UTF-8 sequence at the current position, or 0
 * (Unicode 15, table 3-7: no overlong forms, surrogates or code points
 * above U+10FFFF). */
static size_t utf8_sequence_length(const json_parser *parser)
{
    const unsigned char *s = (const unsigned char *)parser->text + parser->position;
    size_t left = parser->length - parser->position;
    unsigned char c = s[0];
    size_t length;
    unsigned char low = 0x80, high = 0xbf; /* range of the second byte */

    if (c >= 0xc2 && c <= 0xdf) {
        length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        length = 3;
        if (c == 0xe0)
            low = 0xa0;
        else if (c == 0xed)
            high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        length = 4;
        if (c == 0xf0)
            low = 0x90;
        else if (c == 0xf4)
            high = 0x8f;
    } else {
        return 0;
    }

    if (left < length || s[1] < low || s[1] > high)
        return 0;
    for (size_t i = 2; i < length; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return length;
}

/* Parse a string at the opening quote into a new NUL-terminated buffer. */
static int parse_string_text(json_parser *parser, char **text_out)
{
    *text_out = NULL;
    parser->position++; /* the opening quote */

    /* Escapes never decode to more bytes than they occupy, so the raw span
     * up to the closing quote bounds the decoded length. */
    size_t end = parser->position;
    while (end < parser->length && parser->text[end] != '"')
        end += parser->text[end] == '\\' ? 2 : 1;
    if (end > parser->length)
        end = parser->length;
    char *text = malloc(end - parser->position + 1);
    if (text == NULL)
        return no_memory(parser);

    size_t used = 0;
    for (;;) {
        if (at_end(parser)) {
            free(text);
            return parse_error(parser, "string is not terminated; expected '\"'");
        }
        unsigned char c = current(parser);
        if (c == '"') {
            parser->position++;
            break;
        }
        if (c < 0x20) {
            free(text);
            return parse_error(parser, "control character 0x%02x in a string; write it as "
                                       "an escape such as \\n or \\u%04x", c, c);
        }
        if (c == '\\') {
            parser->position++;
            int written = decode_escape(parser, text + used);
            if (written < 0) {
                free(text);
                return -1;
            }
            used += (size_t)written;
        } else if (c < 0x80) {
            text[used++] = (char)c;
            parser->position++;
        } else {
            size_t length = utf8_sequence_length(parser);
            if (length == 0) {
                free(text);
                return parse_error(parser, "invalid UTF-8 byte 0x%02x in a string", c);
            }
            memcpy(text + used, parser->text + parser->position, length);
            used += length;
            parser->position += length;
        }
    }
    text[used] = '\0';
    *text_out = text;
    return 0;
}

/* ---- Arrays and objects -------------------------------------------------- */

/* Make room for one more element in items (and keys, for an object). */
static int grow(json_parser *parser, nnb_json_value *value, int *capacity, int with_keys)
{
    if (value->count < *capacity)
        return 0;
    if (*capacity > INT_MAX / 2)
        return parse_error(parser, "too many elements in one array or object");
    int new_capacity = *capacity > 0 ? *capacity * 2 : 4;

    nnb_json_value *items = realloc(value->items, (size_t)new_capacity * sizeof *items);
    if (items == NULL)
        return no_memory(parser);
    value->items = items;
    if (with_keys) {
        char **keys = realloc(value->keys, (size_t)new_capacity * sizeof *keys);
        if (keys == NULL)
            return no_memory(parser);
        value->keys = keys;
    }
    *capacity = new_capacity;
    return 0;
}

static int enter(json_parser *parser)
{
    if (parser->depth >= NNB_JSON_MAX_DEPTH) {
        return parse_error(parser, "arrays and objects are nested more than %d deep",
                           NNB_JSON_MAX_DEPTH);
    }
    parser->depth++;
    parser->position++; /* the opening bracket */
    return 0;
}

static int parse_array(json_parser *parser, nnb_json_value *value)
{
    value->type = NNB_JSON_ARRAY;
    if (enter(parser) != 0)
        return -1;
    int capacity = 0;

    skip_whitespace(parser);
    if (!at_end(parser) && current(parser) == ']') {
        parser->position++;
        parser->depth--;
        return 0;
    }
    for (;;) {
        if (grow(parser, value, &capacity, 0) != 0)
            return -1;
        /* Count the element before parsing it, so nnb_json_free() releases
         * whatever a failed parse left in it. */
        nnb_json_value *item = &value->items[value->count++];
        memset(item, 0, sizeof *item);
        if (parse_value(parser, item) != 0)
            return -1;

        skip_whitespace(parser);
        if (at_end(parser))
            return unexpected(parser, "',' or ']'");
        if (current(parser) == ']') {
            parser->position++;
            parser->depth--;
            return 0;
        }
        if (current(parser) != ',')
            return unexpected(parser, "',' or ']'");
        parser->position++;
    }
}

/* A member name and where it starts in the text. */
typedef struct member_key {
    const char *key;
    size_t offset;
} member_key;

static int compare_keys(const void *a, const void *b)
{
    const member_key *x = a;
    const member_key *y = b;
    int order = strcmp(x->key, y->key);
    if (order != 0)
        return order;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Reject an object with two members of the same name, reporting the
 * position of the second. Sorting keeps this O(n log n) for objects with
 * many members. */
static int check_duplicate_keys(json_parser *parser, const nnb_json_value *value,
                                const size_t *offsets)
{
    if (value->count < 2)
        return 0;
    member_key *sorted = malloc((size_t)value->count * sizeof *sorted);
    if (sorted == NULL)
        return no_memory(parser);
    for (int i = 0; i < value->count; i++)
        sorted[i] = (member_key){value->keys[i], offsets[i]};
    qsort(sorted, (size_t)value->count, sizeof *sorted, compare_keys);

    int result = 0;
    size_t first_duplicate = SIZE_MAX;
    const char *duplicate = NULL;
    for (int i = 1; i < value->count; i++) {
        if (strcmp(sorted[i - 1].key, sorted[i].key) == 0 && sorted[i].offset < first_duplicate) {
            first_duplicate = sorted[i].offset;
            duplicate = sorted[i].key;
        }
    }
    if (duplicate != NULL) {
        parser->position = first_duplicate;
        result = parse_error(parser, "object has two members named \"%.60s\"", duplicate);
    }
    free(sorted);
    return result;
}

static int parse_object(json_parser *parser, nnb_json_value *value)
{
    value->type = NNB_JSON_OBJECT;
    if (enter(parser) != 0)
        return -1;
    int capacity = 0;
    size_t *offsets = NULL; /* where each member name starts, for messages */
    int result = -1;

    skip_whitespace(parser);
    if (!at_end(parser) && current(parser) == '}') {
        parser->position++;
        parser->depth--;
        return 0;
    }
    for (;;) {
        skip_whitespace(parser);
        if (at_end(parser) || current(parser) != '"') {
            unexpected(parser, "a member name in double quotes");
            break;
        }
        int old_capacity = capacity;
        if (grow(parser, value, &capacity, 1) != 0)
            break;
        if (capacity != old_capacity) {
            size_t *grown = realloc(offsets, (size_t)capacity * sizeof *offsets);
            if (grown == NULL) {
                no_memory(parser);
                break;
            }
            offsets = grown;
        }

        size_t offset = parser->position;
        char *key = NULL;
        if (parse_string_text(parser, &key) != 0)
            break;
        nnb_json_value *item = &value->items[value->count];
        memset(item, 0, sizeof *item);
        offsets[value->count] = offset;
        value->keys[value->count++] = key;

        skip_whitespace(parser);
        if (at_end(parser) || current(parser) != ':') {
            unexpected(parser, "':' after a member name");
            break;
        }
        parser->position++;
        if (parse_value(parser, item) != 0)
            break;

        skip_whitespace(parser);
        if (at_end(parser)) {
            unexpected(parser, "',' or '}'");
            break;
        }
        if (current(parser) == '}') {
            parser->position++;
            parser->depth--;
            result = check_duplicate_keys(parser, value, offsets);
            break;
        }
        if (current(parser) != ',') {
            unexpected(parser, "',' or '}'");
            break;
        }
        parser->position++;
    }
    free(offsets);
    return result;
}

/* ---- Values -------------------------------------------------------------- */

static int parse_value(json_parser *parser, nnb_json_value *value)
{
    skip_whitespace(parser);
    if (at_end(parser))
        return unexpected(parser, "a value");

    switch (current(parser)) {
    case '{':
        return parse_object(parser, value);
    case '[':
        return parse_array(parser, value);
    case '"':
        value->type = NNB_JSON_STRING;
        return parse_string_text(parser, &value->string);
    case 't':
    case 'f':
    case 'n':
        if (match_word(parser, "true")) {
            value->type = NNB_JSON_BOOL;
            value->boolean = 1;
            return 0;
        }
        if (match_word(parser, "false")) {
            value->type = NNB_JSON_BOOL;
            value->boolean = 0;
            return 0;
        }
        if (match_word(parser, "null")) {
            value->type = NNB_JSON_NULL;
            return 0;
        }
        break;
    case 'N':
        if (match_word(parser, "NaN")) {
            value->type = NNB_JSON_NUMBER;
            value->number = NAN;
            return 0;
        }
        break;
    case 'I':
        if (match_word(parser, "Infinity")) {
            value->type = NNB_JSON_NUMBER;
            value->number = INFINITY;
            return 0;
        }
        break;
    case '-':
        if (match_word(parser, "-Infinity")) {
            value->type = NNB_JSON_NUMBER;
            value->number = -INFINITY;
            return 0;
        }
        return parse_number(parser, value);
    default:
        if (is_digit(current(parser)))
            return parse_number(parser, value);
        break;
    }
    return unexpected(parser, "a value (object, array, string, number, true, false or null)");
}

static void free_contents(nnb_json_value *value)
{
    free(value->string);
    for (int i = 0; i < value->count; i++) {
        free_contents(&value->items[i]);
        if (value->keys != NULL)
            free(value->keys[i]);
    }
    free(value->items);
    free(value->keys);
}

void nnb_json_free(nnb_json_value *root)
{
    if (root == NULL)
        return;
    free_contents(root);
    free(root);
}

nnb_status nnb_json_parse(const char *text, size_t length, nnb_json_value **root,
                          nnb_json_error *error)
{
    nnb_json_error local_error;
    if (error == NULL)
        error = &local_error;
    memset(error, 0, sizeof *error);
    *root = NULL;

    json_parser parser = {.text = text, .length = length, .error = error};
    nnb_json_value *value = calloc(1, sizeof *value);
    if (value == NULL) {
        no_memory(&parser);
        return NNB_ERR_NO_MEMORY;
    }

    int result = parse_value(&parser, value);
    if (result == 0) {
        skip_whitespace(&parser);
        if (!at_end(&parser))
            result = unexpected(&parser, "the end of the text after the value");
    }
    if (result != 0) {
        nnb_json_free(value);
        return parser.out_of_memory ? NNB_ERR_NO_MEMORY : NNB_ERR_FORMAT;
    }
    *root = value;
    return NNB_OK;
}

const nnb_json_value *nnb_json_get(const nnb_json_value *object, const char *key)
{
    if (object == NULL || object->type != NNB_JSON_OBJECT)
        return NULL;
    for (int i = 0; i < object->count; i++) {
        if (strcmp(object->keys[i], key) == 0)
            return &object->items[i];
    }
    return NULL;
}

const char *nnb_json_type_name(nnb_json_type type)
{
    switch (type) {
    case NNB_JSON_NULL: return "null";
    case NNB_JSON_BOOL: return "boolean";
    case NNB_JSON_NUMBER: return "number";
    case NNB_JSON_STRING: return "string";
    case NNB_JSON_ARRAY: return "array";
    case NNB_JSON_OBJECT: return "object";
    }
    return "unknown";
}
