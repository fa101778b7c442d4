import { createMemoryStore } from "../../src/store/index.ts";
import { runStoreContract } from "./contract.ts";

runStoreContract("memory", async () => ({ store: createMemoryStore() }));
