// The ceiling: no tunnel at all. inet is given a route to the office LAN, so laptop reaches
// office over the same veth links and routers every tunnel crosses, in the clear.
import type { Subject } from '../lib/types.js';

export const veth: Subject = {
  id: 'veth',
  label: 'plain veth (no tunnel)',
  needs: [],
  async startServer(lab) {
    await lab.exposeOfficeViaInet();
    return { pids: [], stop: () => Promise.resolve() };
  },
};
