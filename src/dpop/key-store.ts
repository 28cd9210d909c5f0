import { generateKeyPair, thumbprint } from './jws.js'

/** A DPoP key pair with its JWK thumbprint (RFC 7638), the `cnf.jkt` of the tokens bound to it. */
export interface DpopKey {
  keyPair: CryptoKeyPair
  jkt: string
  /** Whether the key is in IndexedDB (shared by the origin's tabs, kept across reloads). */
  persisted: boolean
}

const DB_NAME = 'stepup-fetch'
const STORE = 'dpop-keys'

interface KeyRecord {
  /** The issuer and client id the key belongs to. */
  id: string
  privateKey: CryptoKey
  publicKey: CryptoKey
  jkt: string
}

/**
 * The client's DPoP key: the one in IndexedDB, else a new one stored there. Two tabs racing to
 * create it agree on one: `add()` fails with ConstraintError for the later tab, which then reads
 * the winner's. Without IndexedDB (Node) or when it fails (private mode, blocked, quota), a key
 * of this client instance's memory, with a warning in the browser case.
 *
 * The CryptoKey objects are stored as they are (structured clone), so the private key stays
 * non-extractable: script on the origin can use it while it runs, but never read it out.
 */
export async function loadOrCreateKey(id: string): Promise<DpopKey> {
  if (!globalThis.crypto?.subtle) throw new Error('WebCrypto is unavailable here (crypto.subtle needs a secure context: https, or http on localhost)')
  const idb = indexedDb()
  if (idb) {
    try {
      const db = await openDb(idb)
      try {
        const found = await transact(db, 'readonly', (store) => store.get(id) as IDBRequest<KeyRecord | undefined>)
        if (isRecord(found)) return await fromRecord(found)
        const created = await createKey()
        const record: KeyRecord = { id, ...created.keyPair, jkt: created.jkt }
        try {
          await transact(db, 'readwrite', (store) => store.add(record))
          return { ...created, persisted: true }
        } catch (error) {
          // Another tab stored its key first: use that one, so every tab's tokens fit one key.
          if ((error as DOMException | null)?.name !== 'ConstraintError') throw error
          const winner = await transact(db, 'readonly', (store) => store.get(id) as IDBRequest<KeyRecord | undefined>)
          if (isRecord(winner)) return await fromRecord(winner)
          throw error
        }
      } finally {
        db.close()
      }
    } catch (error) {
      console.warn(`[stepup-fetch] IndexedDB is unavailable (${error instanceof Error ? error.message : String(error)}): the DPoP key is kept in this page's memory, so DPoP-bound tokens stop working after a reload and other tabs use keys of their own`)
    }
  }
  return createKey()
}

/** Delete the stored key, unless it has already been replaced by another one (another tab's). */
export async function deleteKey(id: string, jkt: string): Promise<void> {
  const idb = indexedDb()
  if (!idb) return
  try {
    const db = await openDb(idb)
    try {
      await transact(db, 'readwrite', (store) => {
        const read = store.get(id) as IDBRequest<KeyRecord | undefined>
        read.onsuccess = () => {
          if (read.result?.jkt === jkt) store.delete(id)
        }
        return read
      })
    } finally {
      db.close()
    }
  } catch {
    // Nothing to do: the next sign-in of this page makes a new key anyway.
  }
}

async function createKey(): Promise<DpopKey> {
  const keyPair = await generateKeyPair()
  return { keyPair, jkt: await thumbprint(keyPair.publicKey), persisted: false }
}

async function fromRecord(record: KeyRecord): Promise<DpopKey> {
  // The thumbprint is computed again, not taken from the record: tokens are bound to what the key is.
  return { keyPair: { privateKey: record.privateKey, publicKey: record.publicKey }, jkt: await thumbprint(record.publicKey), persisted: true }
}

function isRecord(value: unknown): value is KeyRecord {
  const record = value as Partial<KeyRecord> | undefined
  return typeof record?.jkt === 'string' && typeof record.privateKey === 'object' && typeof record.publicKey === 'object'
}

function indexedDb(): IDBFactory | undefined {
  try {
    return (globalThis as { indexedDB?: IDBFactory }).indexedDB
  } catch {
    // Reading indexedDB throws in some sandboxed contexts.
    return undefined
  }
}

function openDb(idb: IDBFactory, version?: number): Promise<IDBDatabase> {
  return new Promise<IDBDatabase>((resolve, reject) => {
    // No version: whichever exists (a newer SDK's included), created at version 1 if none does.
    const open = version === undefined ? idb.open(DB_NAME) : idb.open(DB_NAME, version)
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE, { keyPath: 'id' })
    }
    open.onsuccess = () => {
      const db = open.result
      // A later version of this database (a newer SDK in another tab) must not wait for us.
      db.onversionchange = () => db.close()
      resolve(db)
    }
    open.onerror = () => reject(open.error)
  }).then((db) => {
    if (db.objectStoreNames.contains(STORE)) return db
    // The database exists without our store (something opened it first): add the store.
    db.close()
    return openDb(idb, db.version + 1)
  })
}

/** One request in its own transaction; settles when the transaction has committed (or failed). */
function transact<T>(db: IDBDatabase, mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode)
    const request = op(tx.objectStore(STORE))
    tx.oncomplete = () => resolve(request.result)
    tx.onerror = tx.onabort = () => reject(request.error ?? tx.error)
  })
}
