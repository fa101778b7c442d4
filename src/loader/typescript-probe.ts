// Imported natively (with a unique query) to learn whether this process can already load TypeScript
// as llamactl's sources are written. Node 22.18+ strips types by itself, which is not enough: a
// parameter property needs a real transform (tsx), and stripping refuses it.
class Probe {
  constructor(readonly loads: boolean) {}
}
export const typescriptLoads: boolean = new Probe(true).loads;
