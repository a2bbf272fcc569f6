package io.jvfio.vmm.options;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * An option argument split by QEMU's QemuOpts rules: {@code key=value} items separated by commas;
 * {@code ,,} in a value stands for a literal comma; the first item may omit its key when the option
 * has an implied one ({@code -device vfio-pci,host=...} means {@code driver=vfio-pci}); a bare
 * {@code key} is kept without a value (a boolean's short form, judged by the property's type);
 * {@code help} or {@code ?} asks for help. A trailing comma is allowed. Unlike QEMU, where the last
 * of two equal keys silently wins, a repeated key is an error, since one of the two is a mistake.
 */
public final class OptionString {

    /** One {@code key=value} item; {@code value} is null for a bare {@code key}. */
    public record Item(String key, String value) {
    }

    private static final Pattern KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]*");

    private final String text;
    private final String impliedKey;
    private final List<Item> items;
    private final boolean help;

    private OptionString(String text, String impliedKey, List<Item> items, boolean help) {
        this.text = text;
        this.impliedKey = impliedKey;
        this.items = List.copyOf(items);
        this.help = help;
    }

    /**
     * Splits {@code text}. {@code impliedKey} (such as {@code driver}) is the key of a first item
     * given without one, or null if the option has none.
     */
    public static OptionString parse(String text, String impliedKey) {
        List<Item> items = new ArrayList<>();
        boolean help = false;
        int n = text.length();
        int i = 0;
        boolean first = true;
        while (i < n) {
            int j = i;
            while (j < n && text.charAt(j) != '=' && text.charAt(j) != ',') {
                j++;
            }
            if (j < n && text.charAt(j) == '=') {
                String key = text.substring(i, j);
                checkKey(key);
                StringBuilder value = new StringBuilder();
                i = readValue(text, j + 1, value);
                add(items, key, value.toString());
            } else if (first && impliedKey != null) {
                StringBuilder value = new StringBuilder();
                i = readValue(text, i, value);
                String v = value.toString();
                if (v.isEmpty()) {
                    throw new OptionsException("Parameter '" + impliedKey + "' is missing");
                }
                if (isHelp(v)) {
                    help = true;
                } else {
                    add(items, impliedKey, v);
                }
            } else {
                String word = text.substring(i, j);
                i = j < n ? j + 1 : n;
                if (isHelp(word)) {
                    help = true;
                } else {
                    checkKey(word);
                    add(items, word, null);
                }
            }
            first = false;
        }
        return new OptionString(text, impliedKey, items, help);
    }

    /** Reads a value from {@code from} up to an unescaped comma (consumed) or the end; returns where to go on. */
    private static int readValue(String text, int from, StringBuilder value) {
        int n = text.length();
        int k = from;
        while (k < n) {
            char c = text.charAt(k);
            if (c == ',') {
                if (k + 1 < n && text.charAt(k + 1) == ',') {
                    value.append(',');
                    k += 2;
                    continue;
                }
                return k + 1;
            }
            value.append(c);
            k++;
        }
        return n;
    }

    private static void checkKey(String key) {
        if (!KEY.matcher(key).matches()) {
            throw new OptionsException("Invalid parameter '" + key + "'");
        }
    }

    private static void add(List<Item> items, String key, String value) {
        for (Item it : items) {
            if (it.key.equals(key)) {
                throw new OptionsException("Parameter '" + key + "' is set twice (" + show(it) + " and "
                        + show(new Item(key, value)) + "); give it once");
            }
        }
        items.add(new Item(key, value));
    }

    private static String show(Item it) {
        return it.value == null ? it.key : it.key + "=" + it.value;
    }

    private static boolean isHelp(String s) {
        return s.equals("help") || s.equals("?");
    }

    /** The text as given. */
    public String text() {
        return text;
    }

    public List<Item> items() {
        return items;
    }

    /** True when {@code help} or {@code ?} appeared anywhere. */
    public boolean helpRequested() {
        return help;
    }

    /** The value of {@code key}, or null if absent (or given bare, without {@code =}). */
    public String value(String key) {
        for (Item it : items) {
            if (it.key.equals(key)) {
                return it.value;
            }
        }
        return null;
    }

    /** The value of the implied key, whether or not it was spelled out; null if absent. */
    public String impliedValue() {
        return impliedKey == null ? null : value(impliedKey);
    }

    public boolean has(String key) {
        for (Item it : items) {
            if (it.key.equals(key)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return text;
    }
}
