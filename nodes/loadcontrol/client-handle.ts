/** What the prepay-bacnet-client config node gives the nodes that name it. */
import type { Node } from 'node-red';
import type { BacnetClient, PeerAddress } from './bacnet-client';
import type { ClientSettings } from './client-config';
import type { LeaseBook } from './lease-book';

/** What a load-control node gets from the config node once the socket is bound. */
export interface ClientHandle {
  client: BacnetClient;
  peer: PeerAddress;
  device: number;
  lease: LeaseBook;
  /** Says the owner is here (its leftovers are its own); the returned function says it is done (closed). */
  acquire(owner: string): () => void;
}

export interface BacnetClientConfigNode extends Node {
  settings?: ClientSettings;
  problem?: string;
  ready?: Promise<ClientHandle>;
}
