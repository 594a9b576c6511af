// Numbers, sizes and times for people.

export function bytes(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = Number(value);
  let unit = 0;
  while (Math.abs(n) >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return `${n >= 100 || unit === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[unit]}`;
}

export function rate(value) {
  return value === null || value === undefined ? "—" : `${bytes(value)}/s`;
}

export function percent(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const n = Number(value);
  return `${n >= 10 ? n.toFixed(0) : n.toFixed(1)} %`;
}

export function count(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("en");
}

export function compact(value) {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return n.toLocaleString("en");
}

/** A Docker timestamp (RFC 3339, nanoseconds) or epoch seconds as a Date, or null. */
export function parseTime(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return new Date(value * 1000);
  const trimmed = String(value).replace(/(\.\d{3})\d+/, "$1");
  const date = new Date(trimmed);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() < 1971) return null;
  return date;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds < 0) return "—";
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function since(value) {
  const date = parseTime(value);
  return date ? duration((Date.now() - date.getTime()) / 1000) : "—";
}

export function when(value) {
  const date = parseTime(value);
  if (!date) return "—";
  return date.toLocaleString("en-GB", {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function capitalize(text) {
  const s = String(text || "");
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
