package io.jvfio.vmm.linux.jna;

import io.jvfio.vmm.range.UnsignedRange;

import java.util.ArrayList;
import java.util.List;

/**
 * The layout of a C struct as a Java mirror uses it: its size and the offset and size of each field
 * the mirror touches, named as in C ({@code mmio.phys_addr} for a member of a nested struct or
 * union). Each mirror builds its layout from the same offset constants its accessors use, and
 * {@code AbiConformanceTest} compares every entry with {@code sizeof}/{@code offsetof} from the
 * compiler, so a wrong offset cannot go unnoticed.
 */
public final class StructLayout {

    /**
     * One field: {@code size} is the whole member's size, or for a flexible array member
     * ({@code data[]}) the size of one element.
     */
    public record Field(String name, int offset, int size, boolean flexibleArray) {
    }

    private final String header;
    private final String cStruct;
    private final int size;
    private final List<Field> fields;

    private StructLayout(String header, String cStruct, int size, List<Field> fields) {
        this.header = header;
        this.cStruct = cStruct;
        this.size = size;
        this.fields = List.copyOf(fields);
    }

    /** Starts a layout of {@code struct cStruct} from {@code #include <header>}, {@code size} bytes. */
    public static Builder of(String header, String cStruct, int size) {
        return new Builder(header, cStruct, size);
    }

    public String header() {
        return header;
    }

    /** The struct tag, without {@code struct}. */
    public String cStruct() {
        return cStruct;
    }

    /** {@code sizeof(struct ...)}. */
    public int size() {
        return size;
    }

    public List<Field> fields() {
        return fields;
    }

    public Field field(String name) {
        for (Field f : fields) {
            if (f.name.equals(name)) {
                return f;
            }
        }
        throw new IllegalArgumentException("struct " + cStruct + " has no field " + name + " in its mirror");
    }

    @Override
    public String toString() {
        return "struct " + cStruct + " (" + size + " bytes, " + fields.size() + " fields)";
    }

    /** Collects a mirror's fields, each checked to lie inside the struct as it is added. */
    public static final class Builder {
        private final String header;
        private final String cStruct;
        private final int size;
        private final List<Field> fields = new ArrayList<>();

        private Builder(String header, String cStruct, int size) {
            this.header = header;
            this.cStruct = cStruct;
            this.size = size;
        }

        /** A scalar, array or nested-struct member of {@code size} bytes at {@code offset}. */
        public Builder field(String name, int offset, int size) {
            if (size <= 0 || !UnsignedRange.fits(offset, size, this.size)) {
                throw new IllegalArgumentException("struct " + cStruct + "." + name + " at " + offset + "+" + size
                        + " lies outside its " + this.size + " bytes");
            }
            return add(new Field(name, offset, size, false));
        }

        /** A flexible array member: elements of {@code elementSize} bytes starting at {@code offset}. */
        public Builder flexibleArray(String name, int offset, int elementSize) {
            if (offset < 0 || elementSize <= 0 || offset > size) {
                throw new IllegalArgumentException("struct " + cStruct + "." + name + "[] at " + offset
                        + " lies outside its " + size + " bytes");
            }
            return add(new Field(name, offset, elementSize, true));
        }

        /** Every field of {@code nested}, prefixed with {@code member.}, placed at {@code offset}. */
        public Builder nested(String member, int offset, StructLayout nested) {
            field(member, offset, nested.size());
            for (Field f : nested.fields()) {
                if (f.flexibleArray) {
                    throw new IllegalArgumentException("a nested struct cannot end in a flexible array");
                }
                field(member + "." + f.name, offset + f.offset, f.size);
            }
            return this;
        }

        private Builder add(Field f) {
            for (Field existing : fields) {
                if (existing.name.equals(f.name)) {
                    throw new IllegalArgumentException("struct " + cStruct + "." + f.name + " declared twice");
                }
            }
            fields.add(f);
            return this;
        }

        public StructLayout build() {
            return new StructLayout(header, cStruct, size, fields);
        }
    }
}
