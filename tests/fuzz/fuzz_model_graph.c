/*
 * Structure-aware fuzz target for nnbatch's own model validation. The fuzz
 * input is a recipe: each byte picks one choice (taken modulo the number of
 * choices) while the target builds a model file with the HDF5 C API in
 * memory. The file is written to /dev/shm, loaded with nnb_model_load(), and
 * when it loads, a few rows are scored through every output with
 * nnb_score_array() on one thread and compared with a double-precision
 * forward pass of the loaded model.
 *
 * Unlike fuzz_model_bytes, every file is well-formed HDF5, so the inputs
 * reach the reader's type and shape checks and the graph builder instead
 * of stopping in HDF5's parser.
 *
 * Recipe, in order (tools/make_fuzz_corpus.py writes seeds in this format):
 *   root:    format, format style, version value, version style, layout flags
 *   inputs:  count, then per input: name, link kind, role, role style,
 *            width value, width style
 *   nodes:   count, then per node: name, link kind, op, op style, input
 *            count, one name per input, inputs style, parameter count, then
 *            per parameter: name, type, rank, one dimension byte per rank,
 *            layout, data mode, value seed
 *   outputs: count, one name per output, style
 *   scoring: rows, tile rows, input row padding, output row padding,
 *            input seed
 * Names are indices into name_pool. A missing byte reads as 0.
 */
#include "fuzz_common.h"
#include "fuzz_model.h"
#include "graph/graph.h"
#include "nnbatch.h"

#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TARGET "fuzz_model_graph"

/* Counts the recipe can ask for. */
#define MAX_INPUTS 3
#define MAX_NODES 8
#define MAX_NODE_INPUTS 3
#define MAX_PARAMS 3
#define MAX_OUTPUTS 4
#define MAX_STRINGS 4

/* Longer than NNB_MODEL_MAX_NAME (256), which the reader rejects. */
#define LONG_NAME_LENGTH 300

/* Parameters with at most this many elements get data written; larger ones
 * keep their fill value. */
#define MAX_WRITTEN_ELEMENTS 4096

/* NOTE: io/model_file.c allocates every parameter at its declared size and
 * reads it, fill values included, so a 1 KiB file can declare a (65536,
 * 65536) weight and make nnb_model_load() allocate and fill 16 GiB. The
 * recipe never declares a parameter whose float32 copy is larger than this
 * but still passes the reader's overflow check, to keep each run small. */
#define MAX_LOADED_ELEMENTS (UINT64_C(1) << 22)

/* Scoring is skipped for models wider than this (floats per row summed over
 * the input and every node), to keep each run small. */
#define MAX_SCORED_FLOATS_PER_ROW 65536

static char long_name[LONG_NAME_LENGTH + 1];

/* Names of inputs and nodes, and the names that @inputs and @outputs use. */
static const char *const name_pool[] = {
    "x",  "y",  "labels", "n0", "n1", "n2", "n3",       "n4",
    "n5", "n6", "n7",     "",   long_name, "a/b", "caf\xc3\xa9", "missing",
};
#define NAME_POOL_SIZE (sizeof name_pool / sizeof name_pool[0])

static const char *model_path;

/* ---- Attributes ------------------------------------------------------------ */

/* How a string attribute is stored. */
typedef enum string_style {
    STRINGS_VLEN_UTF8,        /* a scalar for one string, else a list, as h5py writes */
    STRINGS_VLEN_ASCII_LIST,  /* always a one-dimensional list */
    STRINGS_FIXED_NULLPAD,    /* fixed length of the longest string, as numpy 'S' */
    STRINGS_FIXED_SCALAR,     /* one NUL-terminated fixed-length string, the first */
    STRINGS_FIXED_SPACEPAD,   /* fixed length, padded with spaces */
    STRINGS_FIXED_OVERSIZED,  /* fixed length 300, over the reader's limit */
    STRINGS_RANK_TWO,         /* a (count, 1) array */
    STRINGS_NULL_SPACE,       /* a null dataspace: no elements */
    STRINGS_AS_INTEGERS,      /* an integer attribute in place of strings */
    STRINGS_EMPTY_LIST,       /* a list of zero strings */
    STRINGS_VLEN_NULL_FIRST,  /* a list whose first entry is a NULL pointer */
    STRINGS_FIXED_UNTERMINATED, /* fixed length with no room for a NUL */
    STRINGS_MISSING,          /* no attribute */
    STRING_STYLE_COUNT
} string_style;

static hid_t string_type(int variable, size_t size, H5T_cset_t cset, H5T_str_t pad)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0)
        return type;
    if (H5Tset_size(type, variable ? H5T_VARIABLE : size) < 0 || H5Tset_cset(type, cset) < 0
        || H5Tset_strpad(type, pad) < 0) {
        H5Tclose(type);
        return H5I_INVALID_HID;
    }
    return type;
}

/* Create attribute `name` of type `type` and shape `space` on `object` and
 * write `buffer`, given in `memory_type` (negative: the attribute's type),
 * unless it is NULL. Takes ownership of `type` and `space`. */
static void write_attribute(hid_t object, const char *name, hid_t type, hid_t space,
                            hid_t memory_type, const void *buffer)
{
    if (type >= 0 && space >= 0) {
        hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (attribute >= 0) {
            if (buffer != NULL)
                H5Awrite(attribute, memory_type >= 0 ? memory_type : type, buffer);
            H5Aclose(attribute);
        }
    }
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
}

static hid_t list_space(int rank, hsize_t length)
{
    hsize_t dims[2] = {length, 1};
    return H5Screate_simple(rank, dims, NULL);
}

/* Store `count` strings (count >= 0) as attribute `name` in `style`. */
static void write_strings(hid_t object, const char *name, const char *const *strings, int count,
                          string_style style)
{
    const char *first = count > 0 ? strings[0] : "";
    size_t longest = 1;
    for (int i = 0; i < count; i++) {
        size_t length = strlen(strings[i]);
        if (length > longest)
            longest = length;
    }

    switch (style) {
    case STRINGS_VLEN_UTF8:
    case STRINGS_VLEN_ASCII_LIST:
    case STRINGS_RANK_TWO:
    case STRINGS_EMPTY_LIST:
    case STRINGS_VLEN_NULL_FIRST: {
        H5T_cset_t cset = style == STRINGS_VLEN_ASCII_LIST ? H5T_CSET_ASCII : H5T_CSET_UTF8;
        hid_t type = string_type(1, 0, cset, H5T_STR_NULLTERM);
        const char *pointers[MAX_STRINGS] = {first};
        for (int i = 0; i < count; i++)
            pointers[i] = strings[i];
        int length = count > 0 ? count : 1;
        hid_t space;
        if (style == STRINGS_EMPTY_LIST) {
            length = 0;
            space = list_space(1, 0);
        } else if (style == STRINGS_RANK_TWO) {
            space = list_space(2, (hsize_t)(count > 0 ? count : 1));
        } else if (style == STRINGS_VLEN_UTF8 && count <= 1) {
            space = H5Screate(H5S_SCALAR);
        } else {
            space = list_space(1, (hsize_t)(count > 0 ? count : 1));
        }
        if (style == STRINGS_VLEN_NULL_FIRST)
            pointers[0] = NULL;
        write_attribute(object, name, type, space, -1, length > 0 ? pointers : NULL);
        break;
    }
    case STRINGS_FIXED_NULLPAD:
    case STRINGS_FIXED_SCALAR:
    case STRINGS_FIXED_SPACEPAD:
    case STRINGS_FIXED_OVERSIZED:
    case STRINGS_FIXED_UNTERMINATED: {
        size_t size = longest;
        H5T_str_t pad = H5T_STR_NULLPAD;
        char fill = '\0';
        if (style == STRINGS_FIXED_SCALAR) {
            size = strlen(first) + 1;
            pad = H5T_STR_NULLTERM;
        } else if (style == STRINGS_FIXED_SPACEPAD) {
            size = longest + 2;
            pad = H5T_STR_SPACEPAD;
            fill = ' ';
        } else if (style == STRINGS_FIXED_OVERSIZED) {
            size = LONG_NAME_LENGTH;
        } else if (style == STRINGS_FIXED_UNTERMINATED) {
            pad = H5T_STR_NULLTERM;
        }
        int length = style == STRINGS_FIXED_SCALAR || count < 1 ? 1 : count;
        char *buffer = malloc((size_t)length * size);
        if (buffer == NULL)
            return;
        memset(buffer, fill, (size_t)length * size);
        for (int i = 0; i < length; i++) {
            const char *text = i < count ? strings[i] : "";
            size_t copy = strlen(text) < size ? strlen(text) : size;
            memcpy(buffer + (size_t)i * size, text, copy);
        }
        hid_t type = string_type(0, size, H5T_CSET_ASCII, pad);
        hid_t space = style == STRINGS_FIXED_SCALAR ? H5Screate(H5S_SCALAR)
                                                    : list_space(1, (hsize_t)length);
        write_attribute(object, name, type, space, -1, buffer);
        free(buffer);
        break;
    }
    case STRINGS_NULL_SPACE:
        write_attribute(object, name, string_type(1, 0, H5T_CSET_UTF8, H5T_STR_NULLTERM),
                        H5Screate(H5S_NULL), -1, NULL);
        break;
    case STRINGS_AS_INTEGERS: {
        int32_t values[MAX_STRINGS] = {0};
        write_attribute(object, name, H5Tcopy(H5T_STD_I32LE),
                        list_space(1, (hsize_t)(count > 0 ? count : 1)), -1, values);
        break;
    }
    case STRINGS_MISSING:
    case STRING_STYLE_COUNT:
        break;
    }
}

static void write_string(hid_t object, const char *name, const char *text, string_style style)
{
    write_strings(object, name, &text, 1, style);
}

/* How an integer attribute (@width, @format_version) is stored. */
typedef enum integer_style {
    INTEGER_I64LE,
    INTEGER_I32LE,
    INTEGER_U8,
    INTEGER_I16BE,
    INTEGER_U64LE,
    INTEGER_I8,
    INTEGER_U32BE,
    INTEGER_AS_FLOAT,  /* a float64 attribute: wrong type class */
    INTEGER_AS_STRING, /* the decimal digits as a string */
    INTEGER_PAIR,      /* a list of two integers */
    INTEGER_NULL_SPACE,
    INTEGER_AS_ENUM,   /* an enum over int32: wrong type class */
    INTEGER_EMPTY_LIST,
    INTEGER_MISSING,
    INTEGER_STYLE_COUNT
} integer_style;

/* File type of the integer styles stored as a plain integer, else -1. */
static hid_t integer_file_type(integer_style style)
{
    switch (style) {
    case INTEGER_I64LE: return H5T_STD_I64LE;
    case INTEGER_I32LE: return H5T_STD_I32LE;
    case INTEGER_U8: return H5T_STD_U8LE;
    case INTEGER_I16BE: return H5T_STD_I16BE;
    case INTEGER_U64LE: return H5T_STD_U64LE;
    case INTEGER_I8: return H5T_STD_I8LE;
    case INTEGER_U32BE: return H5T_STD_U32BE;
    default: return H5I_INVALID_HID;
    }
}

static void write_integer(hid_t object, const char *name, int64_t value, integer_style style)
{
    int64_t pair[2] = {value, value};
    hid_t plain = integer_file_type(style);
    if (plain >= 0) {
        /* HDF5 converts from int64 and clips values outside the file type's
         * range to its limits. */
        write_attribute(object, name, H5Tcopy(plain), H5Screate(H5S_SCALAR), H5T_NATIVE_INT64,
                        &value);
        return;
    }

    switch (style) {
    case INTEGER_AS_FLOAT: {
        double real = (double)value;
        write_attribute(object, name, H5Tcopy(H5T_IEEE_F64LE), H5Screate(H5S_SCALAR),
                        H5T_NATIVE_DOUBLE, &real);
        break;
    }
    case INTEGER_AS_STRING: {
        char digits[32];
        snprintf(digits, sizeof digits, "%lld", (long long)value);
        write_string(object, name, digits, STRINGS_VLEN_UTF8);
        break;
    }
    case INTEGER_PAIR:
        write_attribute(object, name, H5Tcopy(H5T_STD_I64LE), list_space(1, 2),
                        H5T_NATIVE_INT64, pair);
        break;
    case INTEGER_NULL_SPACE:
        write_attribute(object, name, H5Tcopy(H5T_STD_I64LE), H5Screate(H5S_NULL), -1, NULL);
        break;
    case INTEGER_AS_ENUM: {
        hid_t type = H5Tenum_create(H5T_NATIVE_INT);
        int member = (int)value;
        if (type >= 0 && H5Tenum_insert(type, "value", &member) < 0) {
            H5Tclose(type);
            type = H5I_INVALID_HID;
        }
        write_attribute(object, name, type, H5Screate(H5S_SCALAR), -1, &member);
        break;
    }
    case INTEGER_EMPTY_LIST:
        write_attribute(object, name, H5Tcopy(H5T_STD_I64LE), list_space(1, 0), -1, NULL);
        break;
    default:
        break;
    }
}
}
