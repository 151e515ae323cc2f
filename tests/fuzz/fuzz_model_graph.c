/*
 * Structure-aware fuzz target for nnbatch's own model validation. The fuzz
 * input is a recipe: each byte picks one choice (taken modulo the number of
 * choices) while the target builds a model file with the HDF5 C API in
 * memory. The file is written to /dev/shm, loaded with nnb_model_load(), and
 * when it loads, a few rows are scored through every output with
 * nnb_score_array() on one thread. The scores are compared with a
 * double-precision forward pass of the loaded model, and bit for bit with
 * the scores of a run with another tile size.
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
 * reads it, fill values included, so a 10 KB file can declare a (65536,
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
            space = list_space(2, (hsize_t)length);
        } else if (style == STRINGS_VLEN_UTF8 && count <= 1) {
            space = H5Screate(H5S_SCALAR);
        } else {
            space = list_space(1, (hsize_t)length);
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

/* ---- Building the file ----------------------------------------------------- */

/* State of one file being built from a recipe. */
typedef struct model_builder {
    fuzz_recipe *recipe;
    hid_t file;
    hid_t link_create;  /* link creation properties: create intermediate groups */
    hid_t group_create; /* group creation properties from the layout flags */
} model_builder;

static const char *take_name(model_builder *builder)
{
    return name_pool[fuzz_take_choice(builder->recipe, NAME_POOL_SIZE)];
}

/* A small deterministic generator for parameter and input values. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static uint32_t random_state(uint8_t seed)
{
    return 2654435761u * ((uint32_t)seed + 1);
}

/* A value in [-4, 4] on a grid of 1/32: exact in float32 and far from
 * overflow and subnormals. */
static double small_value(uint32_t *state)
{
    return (double)(int8_t)(next_random(state) >> 24) / 32.0;
}

/* Value of a dimension byte: mostly 0 to 16, sometimes large enough to
 * test the reader's size checks. */
static hsize_t dimension_value(uint8_t byte)
{
    static const hsize_t large[] = {
        4096, 65536, UINT64_C(1) << 31, UINT64_C(1) << 40, UINT64_C(1) << 61,
        UINT64_C(1) << 62, (UINT64_C(1) << 63) - 1, UINT64_C(1) << 63,
    };
    if (byte >= 248)
        return large[byte - 248];
    return byte % 17;
}

/* Value of a @width or @format_version byte: mostly 1 to 16, sometimes an
 * edge of the valid range or of int64. */
static int64_t integer_value(uint8_t byte)
{
    static const int64_t edges[] = {
        0, -1, INT64_C(1) << 31, (INT64_C(1) << 31) + 1, INT64_MAX, INT64_MIN, 4096, 2,
    };
    if (byte >= 248)
        return edges[byte - 248];
    return 1 + byte % 16;
}

/* Parameter dataset types. */
typedef enum param_type {
    PARAM_F32LE,
    PARAM_F64LE,
    PARAM_F32BE,
    PARAM_F64BE,
    PARAM_I32LE,
    PARAM_U8,
    PARAM_I64BE,
    PARAM_U64LE,
    PARAM_I16LE,
    PARAM_HALF,      /* IEEE binary16 described by its fields */
    PARAM_FIXED_STRING,
    PARAM_VLEN_STRING,
    PARAM_COMPOUND,  /* {float a, float b} */
    PARAM_ENUM,
    PARAM_OPAQUE,
    PARAM_ARRAY,     /* float[2] per element */
    PARAM_BITFIELD,
    PARAM_VLEN_FLOATS,
    PARAM_TYPE_COUNT
} param_type;

/* Create the file type of `choice`; *numeric is set for integer and float
 * types, the ones written with data. */
static hid_t create_param_type(param_type choice, int *numeric)
{
    *numeric = choice <= PARAM_HALF;
    switch (choice) {
    case PARAM_F32LE: return H5Tcopy(H5T_IEEE_F32LE);
    case PARAM_F64LE: return H5Tcopy(H5T_IEEE_F64LE);
    case PARAM_F32BE: return H5Tcopy(H5T_IEEE_F32BE);
    case PARAM_F64BE: return H5Tcopy(H5T_IEEE_F64BE);
    case PARAM_I32LE: return H5Tcopy(H5T_STD_I32LE);
    case PARAM_U8: return H5Tcopy(H5T_STD_U8LE);
    case PARAM_I64BE: return H5Tcopy(H5T_STD_I64BE);
    case PARAM_U64LE: return H5Tcopy(H5T_STD_U64LE);
    case PARAM_I16LE: return H5Tcopy(H5T_STD_I16LE);
    case PARAM_HALF: {
        /* Sign bit 15, exponent bits 10-14 with bias 15, mantissa 0-9. */
        hid_t type = H5Tcopy(H5T_IEEE_F32LE);
        if (type < 0 || H5Tset_fields(type, 15, 10, 5, 0, 10) < 0
            || H5Tset_precision(type, 16) < 0 || H5Tset_size(type, 2) < 0
            || H5Tset_ebias(type, 15) < 0) {
            if (type >= 0)
                H5Tclose(type);
            return H5I_INVALID_HID;
        }
        return type;
    }
    case PARAM_FIXED_STRING: return string_type(0, 8, H5T_CSET_ASCII, H5T_STR_NULLPAD);
    case PARAM_VLEN_STRING: return string_type(1, 0, H5T_CSET_UTF8, H5T_STR_NULLTERM);
    case PARAM_COMPOUND: {
        hid_t type = H5Tcreate(H5T_COMPOUND, 2 * sizeof(float));
        if (type >= 0
            && (H5Tinsert(type, "a", 0, H5T_NATIVE_FLOAT) < 0
                || H5Tinsert(type, "b", sizeof(float), H5T_NATIVE_FLOAT) < 0)) {
            H5Tclose(type);
            return H5I_INVALID_HID;
        }
        return type;
    }
    case PARAM_ENUM: {
        hid_t type = H5Tenum_create(H5T_NATIVE_INT);
        int value = 0;
        if (type >= 0 && H5Tenum_insert(type, "zero", &value) < 0) {
            H5Tclose(type);
            return H5I_INVALID_HID;
        }
        return type;
    }
    case PARAM_OPAQUE: {
        hid_t type = H5Tcreate(H5T_OPAQUE, 4);
        if (type >= 0 && H5Tset_tag(type, "nnbatch fuzz") < 0) {
            H5Tclose(type);
            return H5I_INVALID_HID;
        }
        return type;
    }
    case PARAM_ARRAY: {
        hsize_t length = 2;
        return H5Tarray_create2(H5T_NATIVE_FLOAT, 1, &length);
    }
    case PARAM_BITFIELD: return H5Tcopy(H5T_STD_B8LE);
    case PARAM_VLEN_FLOATS: return H5Tvlen_create(H5T_NATIVE_FLOAT);
    case PARAM_TYPE_COUNT: break;
    }
    return H5I_INVALID_HID;
}

/* How a parameter's values are stored. */
typedef enum param_data {
    DATA_SMALL_VALUES, /* values in [-4, 4] from the value seed */
    DATA_FILL_ONLY,    /* nothing written: the fill value, 0 */
    DATA_SPECIAL,      /* NaN, infinities, 1e30, FLT_MAX, -0 and a subnormal */
    DATA_NAN_FILL,     /* nothing written, fill value NaN */
    DATA_MODE_COUNT
} param_data;

static const double special_values[] = {
    NAN, INFINITY, -INFINITY, 1e30, -1e30, FLT_MAX, -0.0, 1e-40, 1.0,
};
#define SPECIAL_VALUE_COUNT (sizeof special_values / sizeof special_values[0])

/* Elements of `dims`, or UINT64_MAX when the product overflows. */
static uint64_t element_count(int rank, const hsize_t *dims)
{
    uint64_t elements = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] != 0 && elements > UINT64_MAX / dims[d])
            return UINT64_MAX;
        elements *= dims[d];
    }
    return elements;
}

/* Nonzero when io/model_file.c would allocate the parameter: its float32
 * copy fits in size_t. Mirrors the reader's overflow check. */
static int reader_would_allocate(int rank, const hsize_t *dims)
{
    uint64_t elements = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] > (hsize_t)INT64_MAX)
            return 0;
        if (dims[d] > 0 && elements > SIZE_MAX / sizeof(float) / dims[d])
            return 0;
        elements *= dims[d];
    }
    return 1;
}

static void write_param_values(hid_t dataset, uint64_t elements, param_data mode, uint8_t seed)
{
    double *values = malloc((size_t)elements * sizeof *values);
    if (values == NULL)
        return;
    uint32_t state = random_state(seed);
    for (uint64_t i = 0; i < elements; i++) {
        if (mode == DATA_SPECIAL)
            values[i] = special_values[next_random(&state) % SPECIAL_VALUE_COUNT];
        else
            values[i] = small_value(&state);
    }
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    free(values);
}

/* Recipe: name, type, rank, dimensions, layout, data mode, value seed. */
static void write_parameter(model_builder *builder, hid_t node_group)
{
    static const char *const names[] = {"weight", "bias", "w", "extra", long_name};
    static const int ranks[] = {2, 1, 0, 3, -1}; /* -1: null dataspace */

    fuzz_recipe *recipe = builder->recipe;
    const char *name = names[fuzz_take_choice(recipe, sizeof names / sizeof names[0])];
    param_type type_choice = (param_type)fuzz_take_choice(recipe, PARAM_TYPE_COUNT);
    int rank = ranks[fuzz_take_choice(recipe, sizeof ranks / sizeof ranks[0])];
    hsize_t dims[3] = {1, 1, 1};
    for (int d = 0; d < rank; d++)
        dims[d] = dimension_value(fuzz_take_byte(recipe));
    unsigned layout = fuzz_take_choice(recipe, 4);
    param_data mode = (param_data)fuzz_take_choice(recipe, DATA_MODE_COUNT);
    uint8_t seed = fuzz_take_byte(recipe);

    uint64_t elements = rank > 0 ? element_count(rank, dims) : 1;
    if (rank > 0 && elements > MAX_LOADED_ELEMENTS && reader_would_allocate(rank, dims))
        dims[0] = 1;
    if (rank > 0)
        elements = element_count(rank, dims);

    int numeric = 0;
    hid_t type = create_param_type(type_choice, &numeric);
    hid_t space = H5I_INVALID_HID;
    if (rank < 0) {
        space = H5Screate(H5S_NULL);
    } else if (rank == 0) {
        space = H5Screate(H5S_SCALAR);
    } else {
        /* Unlimited maximum dimensions let a chunk be larger than a
         * dimension of 0. */
        hsize_t max_dims[3] = {H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED};
        space = H5Screate_simple(rank, dims, layout % 2 == 1 ? max_dims : NULL);
    }
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);

    if (create >= 0 && rank > 0 && layout % 2 == 1) {
        hsize_t chunk[3];
        for (int d = 0; d < rank; d++) {
            chunk[d] = dims[d] < 16 ? dims[d] : 16;
            if (chunk[d] == 0)
                chunk[d] = 1;
        }
        H5Pset_chunk(create, rank, chunk);
        if (layout == 3) {
            H5Pset_shuffle(create);
            H5Pset_deflate(create, 1);
        }
    } else if (create >= 0 && layout == 2) {
        H5Pset_layout(create, H5D_COMPACT);
    }
    if (create >= 0 && numeric && mode == DATA_NAN_FILL) {
        double nan_value = NAN;
        H5Pset_fill_value(create, H5T_NATIVE_DOUBLE, &nan_value);
    }

    hid_t dataset = H5I_INVALID_HID;
    if (type >= 0 && space >= 0 && create >= 0) {
        dataset = H5Dcreate2(node_group, name, type, space, builder->link_create, create,
                             H5P_DEFAULT);
    }
    int writes = numeric && (mode == DATA_SMALL_VALUES || mode == DATA_SPECIAL)
                 && elements <= MAX_WRITTEN_ELEMENTS && rank >= 0;
    if (dataset >= 0 && writes)
        write_param_values(dataset, elements, mode, seed);

    if (dataset >= 0)
        H5Dclose(dataset);
    if (create >= 0)
        H5Pclose(create);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
}

/* How an input or node is linked into its group. */
typedef enum link_kind {
    LINK_GROUP,     /* a group: the valid form */
    LINK_DATASET,   /* a scalar float32 dataset */
    LINK_SOFT,      /* a soft link to /nodes/n0 */
    LINK_HARD_ALIAS, /* a second hard link to /nodes/n0 or /inputs/x */
    LINK_DATATYPE,  /* a committed datatype */
    LINK_EXTERNAL,  /* an external link to a file that does not exist */
    LINK_KIND_COUNT
} link_kind;

/* Create member `name` of `parent` as `kind`. Returns the new group for
 * LINK_GROUP, else a negative id. */
static hid_t create_member(model_builder *builder, hid_t parent, const char *name,
                           link_kind kind, const char *alias_target)
{
    hid_t lcpl = builder->link_create;
    switch (kind) {
    case LINK_GROUP:
        return H5Gcreate2(parent, name, lcpl, builder->group_create, H5P_DEFAULT);
    case LINK_DATASET: {
        hid_t space = H5Screate(H5S_SCALAR);
        hid_t dataset = H5Dcreate2(parent, name, H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT,
                                   H5P_DEFAULT);
        if (dataset >= 0)
            H5Dclose(dataset);
        if (space >= 0)
            H5Sclose(space);
        break;
    }
    case LINK_SOFT:
        H5Lcreate_soft("/nodes/n0", parent, name, lcpl, H5P_DEFAULT);
        break;
    case LINK_HARD_ALIAS:
        H5Lcreate_hard(builder->file, alias_target, parent, name, lcpl, H5P_DEFAULT);
        break;
    case LINK_DATATYPE: {
        hid_t type = H5Tcopy(H5T_IEEE_F32LE);
        if (type >= 0) {
            H5Tcommit2(parent, name, type, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            H5Tclose(type);
        }
        break;
    }
    case LINK_EXTERNAL:
        H5Lcreate_external("/dev/shm/nnb-fuzz-no-such-file.h5", "/x", parent, name, lcpl,
                           H5P_DEFAULT);
        break;
    case LINK_KIND_COUNT:
        break;
    }
    return H5I_INVALID_HID;
}

/* Roles of a graph input; NULL leaves @role out. */
static const char *const roles[] = {"features", "labels", NULL, "bogus", "Features", ""};
#define ROLE_COUNT (sizeof roles / sizeof roles[0])
/* Two more role choices: a list of both roles, and an integer @role. */
#define ROLE_CHOICES (ROLE_COUNT + 2)

/* Recipe: name, link kind, role, role style, width value, width style. */
static void write_input(model_builder *builder, hid_t inputs)
{
    fuzz_recipe *recipe = builder->recipe;
    const char *name = take_name(builder);
    link_kind kind = (link_kind)fuzz_take_choice(recipe, LINK_KIND_COUNT);
    unsigned role = fuzz_take_choice(recipe, ROLE_CHOICES);
    string_style role_style = (string_style)fuzz_take_choice(recipe, STRING_STYLE_COUNT);
    int64_t width = integer_value(fuzz_take_byte(recipe));
    integer_style width_style = (integer_style)fuzz_take_choice(recipe, INTEGER_STYLE_COUNT);

    hid_t group = create_member(builder, inputs, name, kind, "/inputs/x");
    if (group < 0)
        return;
    if (role < ROLE_COUNT && roles[role] != NULL) {
        write_string(group, "role", roles[role], role_style);
    } else if (role == ROLE_COUNT) {
        const char *both[] = {"features", "labels"};
        write_strings(group, "role", both, 2, role_style);
    } else if (role == ROLE_COUNT + 1) {
        write_integer(group, "role", 1, INTEGER_I32LE);
    }
    write_integer(group, "width", width, width_style);
    H5Gclose(group);
}

/* Operator names; NULL leaves @op out. */
static const char *const ops[] = {
    "matmul", "bias",   "relu",   "sigmoid",  "tanh", "softmax",
    "cross_entropy", "", "Matmul", "conv2d", long_name, NULL,
};
#define OP_CHOICES (sizeof ops / sizeof ops[0])

/* Recipe: name, link kind, op, op style, input count (4: no @inputs), the
 * input names, inputs style, parameter count, the parameters. */
static void write_node(model_builder *builder, hid_t nodes)
{
    fuzz_recipe *recipe = builder->recipe;
    const char *name = take_name(builder);
    link_kind kind = (link_kind)fuzz_take_choice(recipe, LINK_KIND_COUNT);
    const char *op = ops[fuzz_take_choice(recipe, OP_CHOICES)];
    string_style op_style = (string_style)fuzz_take_choice(recipe, STRING_STYLE_COUNT);
    unsigned input_count = fuzz_take_choice(recipe, MAX_NODE_INPUTS + 2);
    const char *inputs[MAX_NODE_INPUTS];
    for (unsigned i = 0; i < input_count && i < MAX_NODE_INPUTS; i++)
        inputs[i] = take_name(builder);
    string_style inputs_style = (string_style)fuzz_take_choice(recipe, STRING_STYLE_COUNT);

    hid_t group = create_member(builder, nodes, name, kind, "/nodes/n0");
    if (group >= 0 && op != NULL)
        write_string(group, "op", op, op_style);
    if (group >= 0 && input_count <= MAX_NODE_INPUTS)
        write_strings(group, "inputs", inputs, (int)input_count, inputs_style);

    /* The parameters are taken from the recipe even when the node could not
     * be created, so the bytes after them keep their meaning. */
    unsigned param_count = fuzz_take_choice(recipe, MAX_PARAMS + 1);
    hid_t target = group;
    if (target < 0) {
        /* A group that is never linked into the file. */
        target = H5Gcreate_anon(builder->file, H5P_DEFAULT, H5P_DEFAULT);
    }
    for (unsigned k = 0; k < param_count; k++)
        write_parameter(builder, target);
    if (target >= 0)
        H5Gclose(target);
}

/* Root attributes and groups, as chosen by the layout flags byte. */
enum {
    LAYOUT_DENSE_LINKS = 1 << 0, /* groups keep links in a fractal heap and B-tree */
    LAYOUT_NO_INPUTS = 1 << 1,
    LAYOUT_NO_NODES = 1 << 2,
    LAYOUT_INPUTS_DATASET = 1 << 3,
    LAYOUT_NODES_SOFT_LINK = 1 << 4,
    LAYOUT_EXTRA_OBJECTS = 1 << 5,
    LAYOUT_CREATION_ORDER = 1 << 6, /* groups track and index link creation order */
};

static const char *const formats[] = {
    "nnbatch-model", NULL, "nnbatch-model ", "NNBATCH-MODEL", "", "nnbatch-model\xff",
};
#define FORMAT_CHOICES (sizeof formats / sizeof formats[0] + 1)

static const int64_t versions[] = {1, 2, 0, -1, INT64_MAX, (INT64_C(1) << 32) + 1};
#define VERSION_CHOICES (sizeof versions / sizeof versions[0])

static void write_root_attributes(model_builder *builder, unsigned format,
                                  string_style format_style, unsigned version,
                                  integer_style version_style)
{
    if (format < FORMAT_CHOICES - 1 && formats[format] != NULL) {
        write_string(builder->file, "format", formats[format], format_style);
    } else if (format == FORMAT_CHOICES - 1) {
        const char *twice[] = {"nnbatch-model", "nnbatch-model"};
        write_strings(builder->file, "format", twice, 2, format_style);
    }
    write_integer(builder->file, "format_version", versions[version], version_style);
}

/* Create /inputs or /nodes as the layout flags ask; returns the group, or a
 * negative id when there is none to fill. */
static hid_t create_top_group(model_builder *builder, const char *path, int missing,
                              int as_dataset)
{
    if (missing)
        return H5I_INVALID_HID;
    if (as_dataset) {
        create_member(builder, builder->file, path, LINK_DATASET, NULL);
        return H5I_INVALID_HID;
    }
    return H5Gcreate2(builder->file, path, H5P_DEFAULT, builder->group_create, H5P_DEFAULT);
}

/* Group creation properties for the layout flags: HDF5 1.8 "new-style"
 * groups when creation order is tracked, stored densely when asked. */
static hid_t group_properties(unsigned layout)
{
    hid_t create = H5Pcreate(H5P_GROUP_CREATE);
    if (create < 0)
        return create;
    if (layout & LAYOUT_CREATION_ORDER)
        H5Pset_link_creation_order(create, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    if (layout & LAYOUT_DENSE_LINKS)
        H5Pset_link_phase_change(create, 0, 0);
    return create;
}

/* Build the whole model file from the recipe. Returns the file image, or
 * NULL when HDF5 could not make the file. */
static uint8_t *build_model_image(fuzz_recipe *recipe, size_t *size)
{
    unsigned format = fuzz_take_choice(recipe, FORMAT_CHOICES);
    string_style format_style = (string_style)fuzz_take_choice(recipe, STRING_STYLE_COUNT);
    unsigned version = fuzz_take_choice(recipe, VERSION_CHOICES);
    integer_style version_style = (integer_style)fuzz_take_choice(recipe, INTEGER_STYLE_COUNT);
    unsigned layout = fuzz_take_byte(recipe);

    model_builder builder = {recipe, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    builder.file = fuzz_image_create();
    builder.link_create = H5Pcreate(H5P_LINK_CREATE);
    builder.group_create = group_properties(layout);
    if (builder.file < 0 || builder.link_create < 0 || builder.group_create < 0) {
        if (builder.group_create >= 0)
            H5Pclose(builder.group_create);
        if (builder.link_create >= 0)
            H5Pclose(builder.link_create);
        if (builder.file >= 0)
            H5Fclose(builder.file);
        return NULL;
    }
    H5Pset_create_intermediate_group(builder.link_create, 1);
    H5Pset_char_encoding(builder.link_create, H5T_CSET_UTF8);

    write_root_attributes(&builder, format, format_style, version, version_style);
    if (layout & LAYOUT_EXTRA_OBJECTS) {
        write_string(builder.file, "description", "extra objects nnbatch ignores",
                     STRINGS_VLEN_UTF8);
        create_member(&builder, builder.file, "/extra/data", LINK_DATASET, NULL);
    }

    hid_t inputs = create_top_group(&builder, "/inputs", layout & LAYOUT_NO_INPUTS,
                                    layout & LAYOUT_INPUTS_DATASET);
    unsigned input_count = fuzz_take_choice(recipe, MAX_INPUTS + 1);
    for (unsigned i = 0; i < input_count; i++) {
        if (inputs >= 0) {
            write_input(&builder, inputs);
        } else {
            /* Keep the recipe in step: an input takes six bytes. */
            for (int b = 0; b < 6; b++)
                fuzz_take_byte(recipe);
        }
    }
    if (inputs >= 0)
        H5Gclose(inputs);

    hid_t nodes = H5I_INVALID_HID;
    if (layout & LAYOUT_NODES_SOFT_LINK) {
        H5Lcreate_soft("/inputs", builder.file, "/nodes", H5P_DEFAULT, H5P_DEFAULT);
    } else {
        nodes = create_top_group(&builder, "/nodes", layout & LAYOUT_NO_NODES, 0);
    }
    if (nodes < 0)
        nodes = H5Gcreate_anon(builder.file, H5P_DEFAULT, H5P_DEFAULT);
    unsigned node_count = fuzz_take_choice(recipe, MAX_NODES + 1);
    for (unsigned i = 0; i < node_count && nodes >= 0; i++)
        write_node(&builder, nodes);
    if (nodes >= 0)
        H5Gclose(nodes);

    /* @outputs: a count of MAX_OUTPUTS + 1 leaves the attribute out. */
    unsigned output_count = fuzz_take_choice(recipe, MAX_OUTPUTS + 2);
    const char *outputs[MAX_OUTPUTS];
    for (unsigned k = 0; k < output_count && k < MAX_OUTPUTS; k++)
        outputs[k] = take_name(&builder);
    string_style outputs_style = (string_style)fuzz_take_choice(recipe, STRING_STYLE_COUNT);
    if (output_count <= MAX_OUTPUTS)
        write_strings(builder.file, "outputs", outputs, (int)output_count, outputs_style);

    H5Pclose(builder.group_create);
    H5Pclose(builder.link_create);
    uint8_t *image = NULL;
    if (fuzz_image_finish(builder.file, &image, size) != 0)
        return NULL;
    return image;
}

/* ---- Scoring and the reference forward pass --------------------------------- */

/* Choices for scoring a model that loaded. */
typedef struct score_recipe {
    int64_t rows;      /* 0 to 16 */
    int64_t tile_rows; /* 0 (automatic) to 7 */
    int64_t pad_input; /* extra floats at the end of each input row */
    int64_t pad_output;
    uint8_t input_seed;
    int nonfinite_input; /* one input value is NaN or infinite */
    int labels_always;   /* pass labels even to outputs that do not need them */
} score_recipe;

static void take_score_recipe(fuzz_recipe *recipe, score_recipe *score)
{
    score->rows = fuzz_take_choice(recipe, 17);
    score->tile_rows = fuzz_take_choice(recipe, 8);
    score->pad_input = fuzz_take_choice(recipe, 4);
    score->pad_output = fuzz_take_choice(recipe, 4);
    uint8_t flags = fuzz_take_byte(recipe);
    score->nonfinite_input = flags & 1;
    score->labels_always = (flags >> 1) & 1;
    score->input_seed = fuzz_take_byte(recipe);
}

/* Unit roundoff of float32. */
#define FLOAT_ROUNDOFF (1.0 / 16777216.0)

/* Bound on the relative error of a float32 sum of n products, any order,
 * with or without fused multiply-add: gamma_n = n u / (1 - n u). */
static double gamma_bound(int64_t n)
{
    double nu = (double)n * FLOAT_ROUNDOFF;
    return nu < 0.5 ? nu / (1.0 - nu) : INFINITY;
}

/* Reference values of every node for every row, in double, with a bound on
 * how far the engine's float32 results may lie from them. */
typedef struct reference {
    int64_t rows;
    double **values; /* per node: rows x width */
    double *error;   /* per node: maximum allowed absolute difference */
    int *checked;    /* per node: the values are finite and well inside float32 range */
} reference;

static void reference_free(reference *ref, int node_count)
{
    if (ref->values != NULL) {
        for (int i = 0; i < node_count; i++)
            free(ref->values[i]);
    }
    free(ref->values);
    free(ref->error);
    free(ref->checked);
}

static int all_finite(const float *values, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        if (!isfinite(values[i]))
            return 0;
    }
    return 1;
}

/* Values of `value` (a node index or NNB_VALUE_FEATURES) for row r. */
static const double *reference_row(const reference *ref, const nnb_model *model,
                                   const double *features, int value, int64_t r)
{
    if (value == NNB_VALUE_FEATURES)
        return features + r * model->input_width;
    return ref->values[value] + r * model->nodes[value].width;
}

static double value_error(const reference *ref, int value)
{
    return value == NNB_VALUE_FEATURES ? 0.0 : ref->error[value];
}

static int value_checked(const reference *ref, int value)
{
    return value == NNB_VALUE_FEATURES || ref->checked[value];
}

/* Compute node i for every row and its error bound, from the rules in
 * include/nnbatch.h and docs/numerics.md. The bounds take the standard
 * float32 rounding error of each step, plus the effect of the error already
 * in its input, and are doubled by the caller. */
static void reference_node(reference *ref, const nnb_model *model, const double *features,
                           const int32_t *labels, int i)
{
    const nnb_node *node = &model->nodes[i];
    int in = node->inputs[0];
    int64_t in_width = in == NNB_VALUE_FEATURES ? model->input_width : model->nodes[in].width;
    double in_error = value_error(ref, in);
    double error = 0.0;
    double largest = 0.0;

    for (int64_t r = 0; r < ref->rows; r++) {
        const double *x = reference_row(ref, model, features, in, r);
        double *y = ref->values[i] + r * node->width;
        double row_max = -INFINITY;
        for (int64_t k = 0; k < in_width; k++)
            row_max = x[k] > row_max ? x[k] : row_max;

        switch (node->op) {
        case NNB_OP_MATMUL:
            for (int64_t j = 0; j < node->width; j++) {
                double sum = 0.0, weight_sum = 0.0, magnitude = 0.0;
                for (int64_t k = 0; k < in_width; k++) {
                    double w = node->weight[k * node->weight_cols + j];
                    sum += x[k] * w;
                    weight_sum += fabs(w);
                    magnitude += (fabs(x[k]) + in_error) * fabs(w);
                }
                y[j] = sum;
                double bound = weight_sum * in_error + gamma_bound(in_width + 1) * magnitude;
                error = bound > error ? bound : error;
            }
            break;
        case NNB_OP_BIAS:
            for (int64_t j = 0; j < node->width; j++) {
                y[j] = x[j] + node->bias[j];
                double bound = in_error + FLOAT_ROUNDOFF * (fabs(y[j]) + in_error);
                error = bound > error ? bound : error;
            }
            break;
        case NNB_OP_RELU:
            for (int64_t j = 0; j < node->width; j++)
                y[j] = x[j] > 0.0 ? x[j] : 0.0;
            error = in_error;
            break;
        case NNB_OP_SIGMOID:
            for (int64_t j = 0; j < node->width; j++)
                y[j] = 1.0 / (1.0 + exp(-x[j]));
            /* sigmoid' <= 1/4; the kernel's own error is a few ulps of 1. */
            error = in_error / 4.0 + 4.0 * FLOAT_ROUNDOFF;
            break;
        case NNB_OP_TANH:
            for (int64_t j = 0; j < node->width; j++)
                y[j] = tanh(x[j]);
            error = in_error + 4.0 * FLOAT_ROUNDOFF;
            break;
        case NNB_OP_SOFTMAX: {
            double sum = 0.0;
            for (int64_t j = 0; j < node->width; j++)
                sum += exp(x[j] - row_max);
            for (int64_t j = 0; j < node->width; j++)
                y[j] = exp(x[j] - row_max) / sum;
            /* Shifting every logit by at most e scales each output by at
             * most exp(2e); the float32 sum of n terms adds about n ulps. */
            error = expm1(2.0 * in_error) + 2.0 * (double)(node->width + 8) * FLOAT_ROUNDOFF;
            break;
        }
        case NNB_OP_CROSS_ENTROPY: {
            /* loss = logsumexp(z) - z[label] over the softmax's input z. */
            int logits = model->nodes[in].inputs[0];
            int64_t classes = logits == NNB_VALUE_FEATURES ? model->input_width
                                                           : model->nodes[logits].width;
            const double *z = reference_row(ref, model, features, logits, r);
            double z_max = -INFINITY, sum = 0.0;
            for (int64_t k = 0; k < classes; k++)
                z_max = z[k] > z_max ? z[k] : z_max;
            for (int64_t k = 0; k < classes; k++)
                sum += exp(z[k] - z_max);
            y[0] = labels != NULL ? z_max + log(sum) - z[labels[r]] : NAN;
            double z_error = value_error(ref, logits);
            double bound = 2.0 * z_error + FLOAT_ROUNDOFF * (fabs(y[0]) + 2.0 * z_error)
                           + 1e-12 * (1.0 + fabs(y[0]));
            error = bound > error ? bound : error;
            break;
        }
        case NNB_OP_COUNT:
            break;
        }
        for (int64_t j = 0; j < node->width; j++)
            largest = fabs(y[j]) > largest || isnan(y[j]) ? fabs(y[j]) : largest;
    }

    int inputs_checked = value_checked(ref, in);
    if (node->op == NNB_OP_CROSS_ENTROPY)
        inputs_checked = inputs_checked && labels != NULL
                         && value_checked(ref, model->nodes[in].inputs[0]);
    ref->error[i] = error;
    /* Values near FLT_MAX may overflow in float32 although the double
     * reference does not; leave those unchecked. */
    ref->checked[i] = inputs_checked && isfinite(largest) && isfinite(error)
                      && largest + 2.0 * error < 1e30;
}

/* Compute the reference for every node, or return -1 when out of memory.
 * Nodes with a non-finite parameter stay unchecked. */
static int reference_compute(reference *ref, const nnb_model *model, const float *input,
                             int64_t ld_input, const int32_t *labels, int64_t rows)
{
    int count = model->node_count;
    memset(ref, 0, sizeof *ref);
    ref->rows = rows;
    ref->values = calloc((size_t)count, sizeof *ref->values);
    ref->error = calloc((size_t)count, sizeof *ref->error);
    ref->checked = calloc((size_t)count, sizeof *ref->checked);
    double *features = malloc((size_t)(rows * model->input_width + 1) * sizeof *features);
    if (ref->values == NULL || ref->error == NULL || ref->checked == NULL || features == NULL) {
        free(features);
        return -1;
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < model->input_width; k++)
            features[r * model->input_width + k] = input[r * ld_input + k];
    }

    for (int i = 0; i < count; i++) {
        const nnb_node *node = &model->nodes[i];
        ref->values[i] = malloc((size_t)(rows * node->width + 1) * sizeof(double));
        if (ref->values[i] == NULL) {
            free(features);
            return -1;
        }
        reference_node(ref, model, features, labels, i);
        if (node->weight != NULL && !all_finite(node->weight, node->weight_rows * node->weight_cols))
            ref->checked[i] = 0;
        if (node->bias != NULL && !all_finite(node->bias, node->width))
            ref->checked[i] = 0;
    }
    free(features);
    return 0;
}

/* Sum of the widths of the input and every node. */
static int64_t floats_per_row(const nnb_model *model)
{
    int64_t total = model->input_width;
    for (int i = 0; i < model->node_count; i++)
        total += model->nodes[i].width;
    return total;
}

/* A quiet NaN with a payload that no computation produces, so a write into
 * the padding of an output row is always seen. */
static float padding_sentinel(void)
{
    uint32_t bits = 0x7fc0beefu;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static int is_padding_sentinel(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits == 0x7fc0beefu;
}

/* Score output `index` and compare it with the reference. */
/* Score output `index` again with `other_run`, whose tile size differs, and
 * require the same bits in every value: a row's result must not depend on
 * the tile it falls in (docs/numerics.md). */
static void check_same_bits(nnb_run *other_run, const nnb_model *model, int64_t rows,
                            const float *input, int64_t ld_input, const int32_t *labels,
                            int index, const float *output, int64_t ld_output,
                            int64_t output_size)
{
    int64_t width = nnb_model_output_width(model, index);
    float *again = malloc((size_t)(output_size > 0 ? output_size : 1) * sizeof *again);
    fuzz_require(again != NULL, TARGET, "out of memory for the output rows");
    nnb_summary summary;
    nnb_error error = {0};
    nnb_status status = nnb_score_array(other_run, rows, input, ld_input, labels, index, again,
                                        ld_output, &summary, &error);
    fuzz_require(status == NNB_OK, TARGET, "scoring with another tile size failed");
    for (int64_t r = 0; r < rows; r++) {
        const float *first = output + r * ld_output;
        const float *second = again + r * ld_output;
        if (memcmp(first, second, (size_t)width * sizeof *first) != 0) {
            fprintf(stderr, "%s: output %d row %lld changes when scored with tile size %lld\n",
                    TARGET, index, (long long)r, (long long)nnb_run_tile_rows(other_run));
            fuzz_require(0, TARGET, "an output depends on the tile size");
        }
    }
    free(again);
}

/* Score output `index`, compare it with the reference and with a run of
 * another tile size. */
static void score_output(nnb_run *run, nnb_run *other_run, const nnb_model *model,
                         const score_recipe *score, const float *input, int64_t ld_input,
                         const int32_t *labels, const reference *ref, int index)
{
    int node = model->outputs[index];
    int64_t width = model->nodes[node].width;
    int64_t ld_output = width + score->pad_output;
    int64_t rows = score->rows;
    int needs_labels = nnb_model_output_needs_labels(model, index);
    nnb_summary summary;
    nnb_error error = {0};

    /* Exactly the floats the call may touch, so AddressSanitizer reports
     * any access past the last row. */
    int64_t output_size = rows > 0 ? (rows - 1) * ld_output + width : 0;
    float *output = malloc((size_t)(output_size > 0 ? output_size : 1) * sizeof *output);
    fuzz_require(output != NULL, TARGET, "out of memory for the output rows");
    for (int64_t i = 0; i < output_size; i++)
        output[i] = padding_sentinel();

    if (needs_labels && rows > 0) {
        nnb_status status = nnb_score_array(run, rows, input, ld_input, NULL, index, output,
                                            ld_output, &summary, &error);
        fuzz_log("%s: output %d without labels: %s %s", TARGET, index,
                 nnb_status_string(status), error.message);
        fuzz_require(status != NNB_OK, TARGET,
                     "scoring an output that needs labels succeeded without labels");
    }

    const int32_t *labels_passed = needs_labels || score->labels_always ? labels : NULL;
    nnb_status status = nnb_score_array(run, rows, rows > 0 ? input : NULL, ld_input,
                                        labels_passed, index, rows > 0 ? output : NULL,
                                        ld_output, &summary, &error);
    fuzz_log("%s: output %d ('%s', width %lld): %s %s", TARGET, index, model->nodes[node].name,
             (long long)width, nnb_status_string(status), error.message);
    fuzz_require(status == NNB_OK, TARGET, "nnb_score_array failed on a valid call");
    fuzz_require(summary.rows == rows, TARGET, "the summary counts another number of rows");

    int values_checked = ref != NULL && ref->checked[node];
    int64_t nonfinite_expected = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < ld_output && r * ld_output + j < output_size; j++) {
            float got = output[r * ld_output + j];
            if (j >= width) {
                fuzz_require(is_padding_sentinel(got), TARGET,
                             "nnb_score_array wrote into the padding of an output row");
                continue;
            }
            fuzz_require(!is_padding_sentinel(got), TARGET,
                         "nnb_score_array left an output value unwritten");
            if (!values_checked)
                continue;
            double expected = ref->values[node][r * width + j];
            double allowed = 2.0 * ref->error[node] + 4.0 * FLOAT_ROUNDOFF * fabs(expected)
                             + 1e-30;
            fuzz_require(isfinite(got), TARGET,
                         "a finite graph on finite inputs produced a NaN or infinity");
            if (!(fabs((double)got - expected) <= allowed)) {
                fprintf(stderr,
                        "%s: output '%s' row %lld column %lld is %.9g, reference %.9g, "
                        "allowed difference %.3g\n",
                        TARGET, model->nodes[node].name, (long long)r, (long long)j,
                        (double)got, expected, allowed);
                fuzz_require(0, TARGET, "an output differs from the reference forward pass");
            }
        }
        if (!all_finite(input + r * ld_input, model->input_width))
            nonfinite_expected++;
    }
    if (values_checked)
        fuzz_require(summary.nonfinite_rows == nonfinite_expected, TARGET,
                     "the summary's count of non-finite rows is wrong");
    else
        fuzz_require(summary.nonfinite_rows >= nonfinite_expected, TARGET,
                     "the summary misses rows with non-finite inputs");

    if (rows > 0) {
        check_same_bits(other_run, model, rows, input, ld_input, labels_passed, index, output,
                        ld_output, output_size);
    }
    free(output);
}

/* Score every output of a loaded model on a few rows with one thread. */
static void score_model(const nnb_model *model, const score_recipe *score)
{
    if (floats_per_row(model) > MAX_SCORED_FLOATS_PER_ROW)
        return;

    nnb_options options;
    nnb_options_init(&options);
    options.threads = 1;
    options.tile_rows = score->tile_rows;
    nnb_run *run = NULL;
    nnb_error error = {0};
    fuzz_require(nnb_run_create(model, &options, &run, &error) == NNB_OK, TARGET,
                 "nnb_run_create failed for a loaded model");

    /* A second run whose tile size differs from the first one's. */
    options.tile_rows = nnb_run_tile_rows(run) == 1 ? 5 : 1;
    nnb_run *other_run = NULL;
    fuzz_require(nnb_run_create(model, &options, &other_run, &error) == NNB_OK, TARGET,
                 "nnb_run_create failed for a loaded model");

    int64_t rows = score->rows;
    int64_t width = model->input_width;
    int64_t ld_input = width + score->pad_input;
    int64_t input_size = rows > 0 ? (rows - 1) * ld_input + width : 0;
    float *input = malloc((size_t)(input_size > 0 ? input_size : 1) * sizeof *input);
    int32_t *labels = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *labels);
    fuzz_require(input != NULL && labels != NULL, TARGET, "out of memory for the input rows");

    /* Padding is NaN, so a kernel that reads it spoils an output. */
    uint32_t state = random_state(score->input_seed);
    for (int64_t i = 0; i < input_size; i++)
        input[i] = i % ld_input < width ? (float)small_value(&state) : NAN;
    if (score->nonfinite_input && input_size > 0)
        input[(next_random(&state) % (uint32_t)rows) * ld_input] =
            next_random(&state) % 2 ? NAN : -INFINITY;
    int64_t classes = model->label_classes;
    for (int64_t r = 0; r < rows; r++)
        labels[r] = classes > 0 ? (int32_t)(next_random(&state) % (uint32_t)classes) : 0;

    reference ref;
    int have_reference = !score->nonfinite_input
                         && reference_compute(&ref, model, input, ld_input,
                                              classes > 0 ? labels : NULL, rows) == 0;
    for (int k = 0; k < model->output_count; k++) {
        score_output(run, other_run, model, score, input, ld_input,
                     classes > 0 ? labels : NULL, have_reference ? &ref : NULL, k);
    }
    if (!score->nonfinite_input)
        reference_free(&ref, model->node_count);

    free(labels);
    free(input);
    nnb_run_free(other_run);
    nnb_run_free(run);
}

/* ---- Entry points ------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memset(long_name, 'a', LONG_NAME_LENGTH);
    fuzz_hdf5_init();
    model_path = fuzz_temp_path("model-graph");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_recipe recipe;
    fuzz_recipe_init(&recipe, data, size);
    size_t image_size = 0;
    uint8_t *image = build_model_image(&recipe, &image_size);
    fuzz_check_no_open_objects("building the model file");
    if (image == NULL)
        return 0;
    fuzz_write_file(model_path, image, image_size);
    free(image);

    score_recipe score;
    take_score_recipe(&recipe, &score);

    nnb_error error = {0};
    nnb_model *model = NULL;
    nnb_status status = nnb_model_load(model_path, &model, &error);
    fuzz_check_load_result(TARGET, model_path, status, model, &error);
    fuzz_check_no_open_objects("nnb_model_load");
    if (model != NULL) {
        fuzz_check_model(TARGET, model);
        score_model(model, &score);
        nnb_model_free(model);
    }
    return 0;
}
