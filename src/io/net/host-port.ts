// "HOST:PORT" and "[V6]:PORT" as admins and users write them (port-share backends, HTTP proxies).
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  return m?.[1] && port >= 1 && port <= 65535 ? { host: m[1], port } : undefined;
}
