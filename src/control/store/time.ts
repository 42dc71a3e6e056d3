// The store keeps times as ISO-8601 UTC strings: sortable as text and portable across backends.
export const iso = (d: Date): string => d.toISOString();
