/*
 * Structure-aware fuzz target for the dataset reader (io/dataset.c). The
 * fuzz input is a recipe for a data file: a features dataset of any type
 * class, byte order, rank, shape, layout and filter chain, and a labels
 * dataset of any shape and values. The target builds the file in memory,
 * writes it to /dev/shm, opens it with nnb_io_dataset_open() for a model of
 * FEATURE_WIDTH features and CLASS_COUNT classes, and reads rows in blocks
 * with nnb_io_dataset_read().
 *
 * Oracles: every successful block must contain the values that HDF5 itself
 * reads back from the datasets (as double). A block with a label that is
 * not a class index, or a one-hot row that is not one 1 and zeros, must
 * fail with NNB_ERR_LABEL. The padding of each row (the row stride beyond
 * the width) must stay untouched. A file whose datasets have the shapes the
 * model expects must open, and any other must not.
 *
 * Recipe, in order (tools/make_fuzz_corpus.py writes seeds in this format):
 *   file:     storage flags (bit 0: allocate storage when a dataset is created)
 *   features: kind, type, rank, one dimension byte per rank, layout, one
 *             chunk byte per rank, filters, fill value, data mode, seed
 *   labels:   kind, type, shape, layout, chunk byte, filters, value mode,
 *             seed
 *   reading:  block rows, row padding
 * A missing byte reads as 0.
 */
#include "fuzz_common.h"
#include "io/dataset.h"
#include "nnbatch.h"

#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TARGET "fuzz_dataset"

/* The model the file is opened for. */
#define FEATURE_WIDTH 4
#define CLASS_COUNT 3

#define FEATURES_NAME "/features"
#define LABELS_NAME "/labels"

/* Datasets with more rows than this are never written, so they hold only
 * their fill value and need no copy of their expected values. */
#define MAX_WRITTEN_ROWS 4096

/* Blocks read from the start of the dataset, before the last block. */
#define MAX_BLOCKS 64

/* Chunks of a dataset small enough to be written: HDF5 writes (and
 * compresses) each chunk separately, so a (1, 65536) dataset in chunks of
 * (1, 1) would take seconds. */
#define MAX_WRITTEN_CHUNKS 256

static const char *data_path;

/* ---- Types ------------------------------------------------------------------ */

typedef enum data_type {
    TYPE_F32LE,
    TYPE_F32BE,
    TYPE_F64LE,
    TYPE_F64BE,
    TYPE_I8,
    TYPE_U8,
    TYPE_I16BE,
    TYPE_U16LE,
    TYPE_I32LE,
    TYPE_I32BE,
    TYPE_U32LE,
    TYPE_I64LE,
    TYPE_I64BE,
    TYPE_U64BE,
    TYPE_HALF,   /* IEEE binary16 described by its fields */
    TYPE_INT12,  /* a 12-bit signed integer at bit offset 2 of 2 bytes */
    TYPE_FIXED_STRING,
    TYPE_VLEN_STRING,
    TYPE_COMPOUND,
    TYPE_ENUM,
    TYPE_OPAQUE,
    TYPE_BITFIELD,
    TYPE_ARRAY,
    TYPE_COUNT
} data_type;

/* Nonzero for the types nnbatch accepts: integers and floats. */
static int type_is_numeric(data_type type)
{
    return type <= TYPE_INT12;
}

static hid_t create_type(data_type type)
{
    hid_t id = H5I_INVALID_HID;
    herr_t set = 0;
    switch (type) {
    case TYPE_F32LE: return H5Tcopy(H5T_IEEE_F32LE);
    case TYPE_F32BE: return H5Tcopy(H5T_IEEE_F32BE);
    case TYPE_F64LE: return H5Tcopy(H5T_IEEE_F64LE);
    case TYPE_F64BE: return H5Tcopy(H5T_IEEE_F64BE);
    case TYPE_I8: return H5Tcopy(H5T_STD_I8LE);
    case TYPE_U8: return H5Tcopy(H5T_STD_U8LE);
    case TYPE_I16BE: return H5Tcopy(H5T_STD_I16BE);
    case TYPE_U16LE: return H5Tcopy(H5T_STD_U16LE);
    case TYPE_I32LE: return H5Tcopy(H5T_STD_I32LE);
    case TYPE_I32BE: return H5Tcopy(H5T_STD_I32BE);
    case TYPE_U32LE: return H5Tcopy(H5T_STD_U32LE);
    case TYPE_I64LE: return H5Tcopy(H5T_STD_I64LE);
    case TYPE_I64BE: return H5Tcopy(H5T_STD_I64BE);
    case TYPE_U64BE: return H5Tcopy(H5T_STD_U64BE);
    case TYPE_HALF:
        /* Sign bit 15, exponent bits 10-14 with bias 15, mantissa 0-9. */
        id = H5Tcopy(H5T_IEEE_F32LE);
        if (id >= 0)
            set = H5Tset_fields(id, 15, 10, 5, 0, 10);
        if (id >= 0 && set >= 0)
            set = H5Tset_precision(id, 16);
        if (id >= 0 && set >= 0)
            set = H5Tset_size(id, 2);
        if (id >= 0 && set >= 0)
            set = H5Tset_ebias(id, 15);
        break;
    case TYPE_INT12:
        id = H5Tcopy(H5T_STD_I16LE);
        if (id >= 0)
            set = H5Tset_precision(id, 12);
        if (id >= 0 && set >= 0)
            set = H5Tset_offset(id, 2);
        break;
    case TYPE_FIXED_STRING:
        id = H5Tcopy(H5T_C_S1);
        if (id >= 0)
            set = H5Tset_size(id, 6);
        break;
    case TYPE_VLEN_STRING:
        id = H5Tcopy(H5T_C_S1);
        if (id >= 0)
            set = H5Tset_size(id, H5T_VARIABLE);
        break;
    case TYPE_COMPOUND:
        id = H5Tcreate(H5T_COMPOUND, 2 * sizeof(float));
        if (id >= 0)
            set = H5Tinsert(id, "re", 0, H5T_NATIVE_FLOAT);
        if (id >= 0 && set >= 0)
            set = H5Tinsert(id, "im", sizeof(float), H5T_NATIVE_FLOAT);
        break;
    case TYPE_ENUM: {
        int zero = 0;
        id = H5Tenum_create(H5T_NATIVE_INT);
        if (id >= 0)
            set = H5Tenum_insert(id, "zero", &zero);
        break;
    }
    case TYPE_OPAQUE:
        id = H5Tcreate(H5T_OPAQUE, 2);
        break;
    case TYPE_BITFIELD:
        id = H5Tcopy(H5T_STD_B16LE);
        break;
    case TYPE_ARRAY: {
        hsize_t length = FEATURE_WIDTH;
        id = H5Tarray_create2(H5T_NATIVE_FLOAT, 1, &length);
        break;
    }
    default:
        break;
    }
    if (id >= 0 && set < 0) {
        H5Tclose(id);
        id = H5I_INVALID_HID;
    }
    return id;
}

/* ---- Building the file ---------------------------------------------------------- */

/* Facts about one dataset the target wrote. */
typedef struct dataset_facts {
    int created;        /* the dataset exists at the name nnbatch opens */
    int numeric;        /* integer or float type */
    int rank;           /* -1 for a null dataspace, 0 for a scalar */
    hsize_t dims[3];
    /* Every element as HDF5 converts it to double, row-major, or NULL when
     * the dataset is too large; it then holds only `fill` everywhere. */
    double *values;
    double fill;
    int values_known;   /* values or fill is what a read returns */
} dataset_facts;

/* Nonzero for labels stored as one-hot rows. */
static int is_one_hot(const dataset_facts *labels)
{
    return labels->rank == 2 && labels->dims[1] == CLASS_COUNT;
}

/* How the dataset at the opened name is made. */
typedef enum dataset_kind {
    KIND_DATASET,      /* a dataset: the valid form */
    KIND_MISSING,      /* nothing at the name */
    KIND_GROUP,        /* a group at the name */
    KIND_SOFT_LINK,    /* a soft link to a dataset elsewhere */
    KIND_DANGLING,     /* a soft link to nothing */
    KIND_EXTERNAL,     /* an external link to a file that does not exist */
    KIND_COUNT
} dataset_kind;

/* Storage choices shared by both datasets. */
typedef struct storage_recipe {
    unsigned layout;   /* 0 contiguous, 1 chunked, 2 compact, 3 chunked and extendible */
    hsize_t chunk[3];
    uint8_t filters;   /* bit 0 shuffle, 1 deflate, 2 fletcher32, 3 fletcher32 first,
                        * bits 4-7 deflate level */
    int fill_choice;   /* 0 default, 1 to 3 a set fill value */
    int allocate_early; /* allocate all storage when the dataset is created */
} storage_recipe;

/* Rows of a dimension byte: mostly 0 to 239, sometimes very many. */
static hsize_t rows_value(uint8_t byte)
{
    static const hsize_t large[] = {
        4096,
        65536,
        UINT64_C(1) << 31,
        UINT64_C(1) << 40,
        UINT64_C(1) << 62,
        (UINT64_C(1) << 63) - 1,
        UINT64_C(1) << 63,
        UINT64_MAX - 1,
    };
    if (byte >= 248)
        return large[byte - 248];
    return byte % 240;
}

/* Nonzero for a dataset small enough to write and to allocate in full: no
 * dimension above 65536 and at most 2^20 elements. */
static int is_small(int rank, const hsize_t *dims)
{
    uint64_t count = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] > 65536)
            return 0;
        count *= dims[d];
    }
    return count <= (UINT64_C(1) << 20);
}

/* Grow the chunks of a small dataset until it has at most
 * MAX_WRITTEN_CHUNKS of them. Larger datasets are never written, so their
 * chunk count costs nothing. */
static void limit_chunk_count(int rank, const hsize_t *dims, hsize_t *chunk)
{
    if (!is_small(rank, dims))
        return;
    for (;;) {
        uint64_t chunks = 1;
        int widest = 0;
        hsize_t widest_count = 0;
        for (int d = 0; d < rank; d++) {
            hsize_t count = (dims[d] + chunk[d] - 1) / chunk[d];
            chunks *= count > 0 ? count : 1;
            if (count > widest_count) {
                widest_count = count;
                widest = d;
            }
        }
        if (chunks <= MAX_WRITTEN_CHUNKS)
            return;
        chunk[widest] *= 2;
        if (chunk[widest] > dims[widest])
            chunk[widest] = dims[widest];
    }
}

static hid_t create_properties(const storage_recipe *storage, int rank, const hsize_t *dims,
                               int numeric)
{
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    if (create < 0)
        return create;

    if (rank > 0 && (storage->layout == 1 || storage->layout == 3)) {
        hsize_t chunk[3];
        for (int d = 0; d < rank; d++) {
            chunk[d] = storage->chunk[d];
            /* A fixed-size dimension needs chunks no larger than itself. */
            if (storage->layout == 1 && dims[d] > 0 && chunk[d] > dims[d])
                chunk[d] = dims[d];
        }
        limit_chunk_count(rank, dims, chunk);
        H5Pset_chunk(create, rank, chunk);
        if (storage->filters & 8)
            H5Pset_fletcher32(create);
        if (storage->filters & 1)
            H5Pset_shuffle(create);
        if (storage->filters & 2)
            H5Pset_deflate(create, (unsigned)(storage->filters >> 4) % 10);
        if ((storage->filters & 4) && !(storage->filters & 8))
            H5Pset_fletcher32(create);
    } else if (storage->layout == 2) {
        H5Pset_layout(create, H5D_COMPACT);
    }
    /* Only for datasets small enough that allocating all storage is cheap. */
    if (storage->allocate_early && rank > 0 && is_small(rank, dims))
        H5Pset_alloc_time(create, H5D_ALLOC_TIME_EARLY);

    static const double fills[] = {0.0, 7.0, -3.0, 1e30};
    if (numeric && storage->fill_choice > 0) {
        double fill = fills[storage->fill_choice];
        H5Pset_fill_value(create, H5T_NATIVE_DOUBLE, &fill);
    }
    return create;
}

/* Create the dataset `name` in `file` and record what it holds. */
static hid_t create_dataset(hid_t file, const char *name, data_type type, int rank,
                            const hsize_t *dims, const storage_recipe *storage,
                            dataset_facts *facts)
{
    facts->numeric = type_is_numeric(type);
    facts->rank = rank;
    for (int d = 0; d < 3; d++)
        facts->dims[d] = d < rank ? dims[d] : 1;

    hid_t file_type = create_type(type);
    hid_t space = H5I_INVALID_HID;
    if (rank < 0) {
        space = H5Screate(H5S_NULL);
    } else if (rank == 0) {
        space = H5Screate(H5S_SCALAR);
    } else {
        hsize_t max_dims[3] = {H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED};
        space = H5Screate_simple(rank, dims, storage->layout == 3 ? max_dims : NULL);
    }
    hid_t create = create_properties(storage, rank, dims, facts->numeric);
    hid_t link_create = H5Pcreate(H5P_LINK_CREATE);
    if (link_create >= 0)
        H5Pset_create_intermediate_group(link_create, 1);

    hid_t dataset = H5I_INVALID_HID;
    if (file_type >= 0 && space >= 0 && create >= 0 && link_create >= 0)
        dataset = H5Dcreate2(file, name, file_type, space, link_create, create, H5P_DEFAULT);

    if (link_create >= 0)
        H5Pclose(link_create);
    if (create >= 0)
        H5Pclose(create);
    if (space >= 0)
        H5Sclose(space);
    if (file_type >= 0)
        H5Tclose(file_type);
    return dataset;
}

/* Elements of the dataset described by `facts`, or 0 when it has no
 * simple dataspace or more than MAX_WRITTEN_ROWS rows. */
static size_t small_element_count(const dataset_facts *facts)
{
    if (facts->rank < 1 || facts->dims[0] > MAX_WRITTEN_ROWS)
        return 0;
    uint64_t count = 1;
    for (int d = 0; d < facts->rank; d++) {
        if (facts->dims[d] > 64 * 1024)
            return 0;
        count *= facts->dims[d];
    }
    return count <= (UINT64_C(1) << 20) ? (size_t)count : 0;
}

/* How values are written. */
typedef enum data_mode {
    DATA_ALL,       /* every element from the seed */
    DATA_FILL_ONLY, /* nothing written */
    DATA_FIRST_HALF, /* the first half of the rows */
    DATA_SPECIAL,   /* every element, with NaN, infinities and type limits mixed in */
    DATA_MODE_COUNT
} data_mode;

/* Label value modes: what the labels dataset stores. */
typedef enum label_mode {
    LABELS_VALID,      /* class indices 0 to CLASS_COUNT - 1 */
    LABELS_SMALL_INTS, /* -2 to 5: some outside the class range */
    LABELS_FRACTIONS,  /* k + 0.5 */
    LABELS_SPECIAL,    /* NaN, infinities, 1e10, 2^31, -0 */
    LABELS_FILL_ONLY,
    LABELS_FIRST_HALF, /* valid indices in the first half of the rows */
    LABEL_MODE_COUNT
} label_mode;

static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static const double special_values[] = {
    NAN, INFINITY, -INFINITY, 1e30, -1e30, FLT_MAX, -0.0, 1e-40, 1e10, 2147483648.0, -1.0,
};
#define SPECIAL_COUNT (sizeof special_values / sizeof special_values[0])

/* Next value of a features dataset: a multiple of 1/8 in [-16, 16), which
 * every numeric type stores exactly or clips to its range. */
static double feature_value(uint32_t *state, data_mode mode)
{
    if (mode == DATA_SPECIAL && next_random(state) % 4 == 0)
        return special_values[next_random(state) % SPECIAL_COUNT];
    return (double)(int8_t)(next_random(state) >> 24) / 8.0;
}

static double label_value(uint32_t *state, label_mode mode)
{
    uint32_t draw = next_random(state);
    switch (mode) {
    case LABELS_VALID:
    case LABELS_FIRST_HALF:
        return (double)(draw % CLASS_COUNT);
    case LABELS_SMALL_INTS:
        return (double)(int)(draw % 8) - 2.0;
    case LABELS_FRACTIONS:
        return (double)(draw % CLASS_COUNT) + 0.5;
    case LABELS_SPECIAL:
        return draw % 2 ? (double)(draw / 2 % CLASS_COUNT)
                        : special_values[draw / 2 % SPECIAL_COUNT];
    default:
        return 0.0;
    }
}

/* Write the first `rows` rows of `dataset` from `values` (double, row-major
 * over all rows). */
static void write_rows(hid_t dataset, const dataset_facts *facts, hsize_t rows,
                       const double *values)
{
    if (rows == 0)
        return;
    hid_t file_space = H5Dget_space(dataset);
    hsize_t start[3] = {0, 0, 0};
    hsize_t count[3];
    for (int d = 0; d < facts->rank; d++)
        count[d] = d == 0 ? rows : facts->dims[d];
    hid_t memory_space = H5Screate_simple(facts->rank, count, NULL);
    if (file_space >= 0 && memory_space >= 0
        && H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        H5Dwrite(dataset, H5T_NATIVE_DOUBLE, memory_space, file_space, H5P_DEFAULT, values);
    if (memory_space >= 0)
        H5Sclose(memory_space);
    if (file_space >= 0)
        H5Sclose(file_space);
}

/* Record what a read of `dataset` returns: its elements as HDF5 converts
 * them to double, or its fill value when it is too large to copy. */
static void record_values(hid_t dataset, dataset_facts *facts)
{
    size_t count = small_element_count(facts);
    if (count > 0) {
        facts->values = malloc(count * sizeof *facts->values);
        if (facts->values != NULL
            && H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, facts->values)
                   >= 0) {
            facts->values_known = 1;
        }
        return;
    }
    hid_t create = H5Dget_create_plist(dataset);
    H5D_fill_value_t defined = H5D_FILL_VALUE_ERROR;
    if (create >= 0 && H5Pfill_value_defined(create, &defined) >= 0) {
        if (defined == H5D_FILL_VALUE_DEFAULT)
            facts->fill = 0.0;
        if (defined == H5D_FILL_VALUE_DEFAULT
            || (defined == H5D_FILL_VALUE_USER_DEFINED
                && H5Pget_fill_value(create, H5T_NATIVE_DOUBLE, &facts->fill) >= 0))
            facts->values_known = 1;
    }
    if (create >= 0)
        H5Pclose(create);
}

/* Fill a dataset with values from `mode` and record them. Large datasets
 * are never written. */
static void fill_dataset(hid_t dataset, dataset_facts *facts, int is_labels, unsigned mode,
                         uint8_t seed)
{
    size_t count = small_element_count(facts);
    int writes = facts->numeric && count > 0
                 && (is_labels ? mode != LABELS_FILL_ONLY : mode != DATA_FILL_ONLY);
    if (writes) {
        double *values = malloc(count * sizeof *values);
        if (values != NULL) {
            uint32_t state = 2654435761u * ((uint32_t)seed + 1);
            for (size_t i = 0; i < count; i++) {
                values[i] = is_labels ? label_value(&state, (label_mode)mode)
                                      : feature_value(&state, (data_mode)mode);
            }
            /* Valid one-hot rows: a 1 in the column of the class drawn
             * for the row's first element, zeros elsewhere. */
            int valid_mode = mode == LABELS_VALID || mode == LABELS_FIRST_HALF;
            if (is_labels && valid_mode && is_one_hot(facts)) {
                for (size_t row = 0; row < count / CLASS_COUNT; row++) {
                    size_t hot = (size_t)values[row * CLASS_COUNT];
                    for (size_t c = 0; c < CLASS_COUNT; c++)
                        values[row * CLASS_COUNT + c] = c == hot ? 1.0 : 0.0;
                }
            }
            int half = is_labels ? mode == LABELS_FIRST_HALF : mode == DATA_FIRST_HALF;
            write_rows(dataset, facts, half ? facts->dims[0] / 2 : facts->dims[0], values);
            free(values);
        }
    }
    if (facts->numeric)
        record_values(dataset, facts);
}

static void take_storage(fuzz_recipe *recipe, int chunk_bytes, storage_recipe *storage)
{
    storage->layout = fuzz_take_choice(recipe, 4);
    for (int d = 0; d < 3; d++)
        storage->chunk[d] = d < chunk_bytes ? 1 + fuzz_take_choice(recipe, 32) : 1;
    storage->filters = fuzz_take_byte(recipe);
}

/* Make `name` as `kind`, with the dataset itself at `name` or, for a soft
 * link, at `target`. Returns the dataset when one was created. */
static hid_t create_kind(hid_t file, dataset_kind kind, const char *name, const char *target,
                         data_type type, int rank, const hsize_t *dims,
                         const storage_recipe *storage, dataset_facts *facts)
{
    hid_t dataset = H5I_INVALID_HID;
    switch (kind) {
    case KIND_DATASET:
        dataset = create_dataset(file, name, type, rank, dims, storage, facts);
        facts->created = dataset >= 0;
        break;
    case KIND_SOFT_LINK:
        dataset = create_dataset(file, target, type, rank, dims, storage, facts);
        facts->created = dataset >= 0
                         && H5Lcreate_soft(target, file, name, H5P_DEFAULT, H5P_DEFAULT) >= 0;
        break;
    case KIND_GROUP: {
        hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (group >= 0)
            H5Gclose(group);
        break;
    }
    case KIND_DANGLING:
        H5Lcreate_soft("/no/such/dataset", file, name, H5P_DEFAULT, H5P_DEFAULT);
        break;
    case KIND_EXTERNAL:
        H5Lcreate_external("/dev/shm/nnb-fuzz-no-such-file.h5", "/x", file, name, H5P_DEFAULT,
                           H5P_DEFAULT);
        break;
    default:
        break;
    }
    return dataset;
}

/* The labels dataset's name choices: the last one reuses the features. */
typedef enum labels_kind {
    LABELS_NONE,       /* open without labels */
    LABELS_DATASET,
    LABELS_MISSING,
    LABELS_GROUP,
    LABELS_SAME_AS_FEATURES,
    LABELS_SOFT_LINK,
    LABELS_KIND_COUNT
} labels_kind;

/* Everything the reading half needs to know about the file. */
typedef struct data_file {
    dataset_facts features;
    dataset_facts labels;
    labels_kind labels_kind;
    int64_t block_rows;
    int64_t pad;
} data_file;

/* Labels shapes, relative to the features' rows: (rows), (rows, 1),
 * (rows, 2), (rows + 1), (rows - 1), a scalar, (rows, 1, 1), (1, rows), and
 * one-hot rows (rows, CLASS_COUNT). */
enum { LABEL_SHAPE_COUNT = 9 };

static int labels_shape(unsigned choice, hsize_t rows, hsize_t *dims)
{
    switch (choice) {
    case 0: dims[0] = rows; return 1;
    case 1: dims[0] = rows; dims[1] = 1; return 2;
    case 2: dims[0] = rows; dims[1] = 2; return 2;
    case 3: dims[0] = rows + 1; return 1;
    case 4: dims[0] = rows > 0 ? rows - 1 : 0; return 1;
    case 5: return 0;
    case 6: dims[0] = rows; dims[1] = 1; dims[2] = 1; return 3;
    case 7: dims[0] = 1; dims[1] = rows; return 2;
    default: dims[0] = rows; dims[1] = CLASS_COUNT; return 2;
    }
}

static uint8_t *build_data_image(fuzz_recipe *recipe, data_file *data, size_t *size)
{
    static const int ranks[] = {2, 1, 0, 3, -1};

    unsigned storage_flags = fuzz_take_byte(recipe);

    /* Features. */
    dataset_kind kind = (dataset_kind)fuzz_take_choice(recipe, KIND_COUNT);
    data_type type = (data_type)fuzz_take_choice(recipe, TYPE_COUNT);
    int rank = ranks[fuzz_take_choice(recipe, sizeof ranks / sizeof ranks[0])];
    hsize_t dims[3] = {1, 1, 1};
    for (int d = 0; d < rank; d++) {
        uint8_t byte = fuzz_take_byte(recipe);
        if (d == 0)
            dims[d] = rows_value(byte);
        else if (d == 1)
            dims[d] = byte == 0 ? FEATURE_WIDTH : byte % 9;
        else
            dims[d] = 1 + byte % 3;
    }
    storage_recipe storage;
    take_storage(recipe, rank > 0 ? rank : 0, &storage);
    storage.fill_choice = (int)fuzz_take_choice(recipe, 4);
    storage.allocate_early = storage_flags & 1;
    data_mode mode = (data_mode)fuzz_take_choice(recipe, DATA_MODE_COUNT);
    uint8_t seed = fuzz_take_byte(recipe);

    /* Labels. */
    data->labels_kind = (labels_kind)fuzz_take_choice(recipe, LABELS_KIND_COUNT);
    data_type labels_type = (data_type)fuzz_take_choice(recipe, TYPE_COUNT);
    hsize_t labels_dims[3] = {1, 1, 1};
    int labels_rank = labels_shape(fuzz_take_choice(recipe, LABEL_SHAPE_COUNT),
                                   rank > 0 ? dims[0] : 1, labels_dims);
    storage_recipe labels_storage;
    take_storage(recipe, 1, &labels_storage);
    for (int d = 1; d < 3; d++)
        labels_storage.chunk[d] = labels_storage.chunk[0] % 2 + 1;
    labels_storage.fill_choice = 0;
    labels_storage.allocate_early = storage_flags & 1;
    label_mode labels_mode = (label_mode)fuzz_take_choice(recipe, LABEL_MODE_COUNT);
    uint8_t labels_seed = fuzz_take_byte(recipe);

    /* Reading. */
    data->block_rows = 1 + fuzz_take_choice(recipe, 64);
    data->pad = fuzz_take_choice(recipe, 4);

    hid_t file = fuzz_image_create();
    if (file < 0)
        return NULL;

    hid_t features = create_kind(file, kind, FEATURES_NAME, "/stored/features", type, rank,
                                 dims, &storage, &data->features);
    if (features >= 0) {
        fill_dataset(features, &data->features, 0, mode, seed);
        H5Dclose(features);
    }

    hid_t labels = H5I_INVALID_HID;
    switch (data->labels_kind) {
    case LABELS_DATASET:
        labels = create_kind(file, KIND_DATASET, LABELS_NAME, NULL, labels_type, labels_rank,
                             labels_dims, &labels_storage, &data->labels);
        break;
    case LABELS_GROUP:
        create_kind(file, KIND_GROUP, LABELS_NAME, NULL, labels_type, 0, NULL, NULL,
                    &data->labels);
        break;
    case LABELS_SOFT_LINK:
        labels = create_kind(file, KIND_SOFT_LINK, LABELS_NAME, "/stored/labels", labels_type,
                             labels_rank, labels_dims, &labels_storage, &data->labels);
        break;
    default:
        break;
    }
    if (labels >= 0) {
        fill_dataset(labels, &data->labels, 1, labels_mode, labels_seed);
        H5Dclose(labels);
    }

    uint8_t *image = NULL;
    if (fuzz_image_finish(file, &image, size) != 0)
        return NULL;
    return image;
}

static void free_facts(dataset_facts *facts)
{
    free(facts->values);
    facts->values = NULL;
}

/* ---- Expectations --------------------------------------------------------------- */

/* Nonzero when the features dataset has the shape and type the model
 * needs, so opening it must succeed (with acceptable labels). */
static int features_acceptable(const dataset_facts *features)
{
    return features->created && features->numeric && features->rank == 2
           && features->dims[1] == FEATURE_WIDTH && features->dims[0] > 0
           && features->dims[0] <= (hsize_t)INT64_MAX
           && (double)features->dims[0] * (double)features->dims[1] <= 0x1p56;
}

static int labels_acceptable(const data_file *data)
{
    const dataset_facts *labels = &data->labels;
    switch (data->labels_kind) {
    case LABELS_NONE:
        return 1;
    case LABELS_DATASET:
    case LABELS_SOFT_LINK:
        return labels->created && labels->numeric
               && (labels->rank == 1 || (labels->rank == 2 && labels->dims[1] == 1)
                   || is_one_hot(labels))
               && labels->dims[0] == data->features.dims[0]
               && (double)labels->dims[0] * (labels->rank == 2 ? (double)labels->dims[1] : 1.0)
                      <= 0x1p56;
    default:
        /* Missing, a group, or the (rows, FEATURE_WIDTH) features. */
        return 0;
    }
}

/* Element `index` (row-major) as a read returns it; 0 when unknown. */
static int expected_element(const dataset_facts *facts, uint64_t index, double *value)
{
    if (!facts->values_known)
        return 0;
    *value = facts->values != NULL ? facts->values[index] : facts->fill;
    return 1;
}

/* Return the class index nnbatch must read for labels row `row`, or -2
 * when the values are unknown. Returns -1 for an invalid label: a value
 * outside the class range or not whole, or a one-hot row that is not one 1
 * and zeros. */
static int expected_label(const dataset_facts *labels, uint64_t row)
{
    double value;
    if (!is_one_hot(labels)) {
        if (!expected_element(labels, row, &value))
            return -2;
        if (!(value >= 0.0 && value < CLASS_COUNT) || value != floor(value))
            return -1;
        return (int)value;
    }

    int hot = -1;
    for (uint64_t c = 0; c < CLASS_COUNT; c++) {
        if (!expected_element(labels, row * CLASS_COUNT + c, &value))
            return -2;
        if (value == 0.0)
            continue;
        if (value != 1.0 || hot >= 0)
            return -1;
        hot = (int)c;
    }
    return hot;
}

/* Nonzero when `got` is what reading `expected` as float32 gives: HDF5 may
 * round a large integer differently than a cast of its double value. */
static int same_float(float got, double expected)
{
    if (isnan(expected))
        return isnan(got);
    if (isinf(expected))
        return got == (float)expected;
    return fabs((double)got - expected) <= fabs(expected) * 0x1p-23 + 0x1p-149;
}

/* ---- Reading ---------------------------------------------------------------------- */

/* Values written into the row padding and the labels before each read, to
 * see which ones the reader overwrote. */
#define PADDING_VALUE (-1234.5f)
#define LABEL_SENTINEL (-777)

static const char *labels_name(labels_kind kind)
{
    switch (kind) {
    case LABELS_NONE: return NULL;
    case LABELS_SAME_AS_FEATURES: return FEATURES_NAME;
    default: return LABELS_NAME;
    }
}

/* Read rows [first, first + count) and check them against the file. */
static void read_block(nnb_io_dataset_reader *reader, const data_file *data, int64_t first,
                       int64_t count)
{
    int64_t ld = FEATURE_WIDTH + data->pad;
    int with_labels = data->labels_kind != LABELS_NONE;
    float *features = malloc((size_t)(count * ld) * sizeof *features);
    int32_t *labels = malloc((size_t)count * sizeof *labels);
    fuzz_require(features != NULL && labels != NULL, TARGET, "out of memory for a block");
    for (int64_t i = 0; i < count * ld; i++)
        features[i] = PADDING_VALUE;
    for (int64_t i = 0; i < count; i++)
        labels[i] = LABEL_SENTINEL;

    /* Whether the labels of this block are all valid: 1 yes, 0 no, -1
     * unknown. */
    int labels_valid = 1;
    for (int64_t i = 0; with_labels && i < count && labels_valid != -1; i++) {
        int label = expected_label(&data->labels, (uint64_t)(first + i));
        if (label == -2)
            labels_valid = -1;
        else if (label == -1)
            labels_valid = 0;
    }

    nnb_error error = {0};
    nnb_status status = nnb_io_dataset_read(reader, first, count, features, ld,
                                            with_labels ? labels : NULL, &error);
    fuzz_log("%s: rows %lld to %lld: %s %s", TARGET, (long long)first,
             (long long)(first + count - 1), nnb_status_string(status), error.message);

    if (labels_valid == 0) {
        fuzz_require(status == NNB_ERR_LABEL, TARGET,
                     "a block with a label outside the class range was not rejected");
    } else if (labels_valid == 1) {
        fuzz_require(status == NNB_OK, TARGET, "reading a valid block failed");
    } else {
        fuzz_require(status == NNB_OK || status == NNB_ERR_LABEL, TARGET,
                     "reading a block failed with a status other than NNB_ERR_LABEL");
    }
    if (status != NNB_OK) {
        fuzz_require(error.message[0] != '\0', TARGET, "a failed read left no message");
        free(labels);
        free(features);
        return;
    }

    for (int64_t i = 0; i < count; i++) {
        for (int64_t j = 0; j < ld; j++) {
            float got = features[i * ld + j];
            if (j >= FEATURE_WIDTH) {
                fuzz_require(got == PADDING_VALUE, TARGET,
                             "the reader wrote into the padding of a row");
                continue;
            }
            double expected;
            uint64_t index = (uint64_t)(first + i) * FEATURE_WIDTH + (uint64_t)j;
            if (expected_element(&data->features, index, &expected) && !same_float(got, expected)) {
                fprintf(stderr, "%s: row %lld column %lld is %.9g, expected %.17g\n", TARGET,
                        (long long)(first + i), (long long)j, (double)got, expected);
                fuzz_require(0, TARGET, "the reader returned a wrong feature value");
            }
        }
        int label = with_labels ? expected_label(&data->labels, (uint64_t)(first + i)) : -2;
        if (label >= 0)
            fuzz_require(labels[i] == label, TARGET, "the reader returned a wrong label");
    }
    free(labels);
    free(features);
}

/* Open the file written from the recipe, check that it opens exactly when
 * its datasets fit the model, and read its rows in blocks. */
static void read_data_file(const data_file *data)
{
    nnb_io_dataset_reader *reader = NULL;
    nnb_error error = {0};
    nnb_status status = nnb_io_dataset_open(data_path, FEATURES_NAME,
                                            labels_name(data->labels_kind), FEATURE_WIDTH,
                                            CLASS_COUNT, &reader, &error);
    fuzz_log("%s: open: %s %s", TARGET, nnb_status_string(status), error.message);

    int acceptable = features_acceptable(&data->features) && labels_acceptable(data);
    if (status != NNB_OK) {
        fuzz_require(reader == NULL, TARGET, "a failed open returned a reader");
        fuzz_require(status == NNB_ERR_IO || status == NNB_ERR_FORMAT || status == NNB_ERR_SHAPE
                         || status == NNB_ERR_NO_MEMORY,
                     TARGET, "opening failed with an unexpected status");
        fuzz_require(error.message[0] != '\0', TARGET, "a failed open left no message");
        fuzz_require(!acceptable, TARGET, "a file whose datasets fit the model was rejected");
        return;
    }
    fuzz_require(acceptable, TARGET, "a file whose datasets do not fit the model was opened");

    int64_t rows = nnb_io_dataset_rows(reader);
    fuzz_require(rows > 0 && (hsize_t)rows == data->features.dims[0], TARGET,
                 "the reader reports another row count than the dataset has");
    nnb_row_source source = nnb_io_dataset_source(reader);
    fuzz_require(source.rows == rows && source.block_alignment >= 0
                     && source.has_labels == (data->labels_kind != LABELS_NONE),
                 TARGET, "the row source does not describe the dataset");

    int64_t first = 0;
    for (int block = 0; block < MAX_BLOCKS && first < rows; block++) {
        int64_t count = rows - first < data->block_rows ? rows - first : data->block_rows;
        read_block(reader, data, first, count);
        first += count;
    }
    if (first < rows) {
        int64_t count = rows < data->block_rows ? rows : data->block_rows;
        read_block(reader, data, rows - count, count);
    }

    /* Rows past the end must fail cleanly, not read outside the dataset. */
    float past_end[2 * FEATURE_WIDTH];
    int32_t past_end_labels[2];
    status = nnb_io_dataset_read(reader, rows - 1, 2, past_end, FEATURE_WIDTH,
                                 data->labels_kind != LABELS_NONE ? past_end_labels : NULL,
                                 &error);
    fuzz_require(status != NNB_OK, TARGET, "reading past the last row succeeded");

    nnb_io_dataset_close(reader);
}

/* ---- Entry points ------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_hdf5_init();
    data_path = fuzz_temp_path("dataset");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    fuzz_recipe recipe;
    fuzz_recipe_init(&recipe, bytes, size);
    data_file data;
    memset(&data, 0, sizeof data);
    size_t image_size = 0;
    uint8_t *image = build_data_image(&recipe, &data, &image_size);
    fuzz_check_no_open_objects("building the data file");
    if (image != NULL) {
        fuzz_write_file(data_path, image, image_size);
        free(image);
        read_data_file(&data);
        fuzz_check_no_open_objects("reading the data file");
    }
    free_facts(&data.features);
    free_facts(&data.labels);
    return 0;
}
