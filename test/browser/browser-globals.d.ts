/**
 * What the browser-side callbacks of page.evaluate touch in the Node-RED editor, typed as far as the tests
 * use it (the editor ships no types). DOM types come from the "DOM" lib in tsconfig.test.json.
 */
interface EditorNode {
  valid?: boolean;
}

declare const RED: {
  nodes: {
    getType(type: string): { category: string; defaults: Record<string, { value: unknown }> };
    node(id: string): EditorNode;
    import(nodes: unknown[]): unknown;
  };
  view: { redraw(full?: boolean): void };
  editor: { edit(node: EditorNode): void; editConfig(name: string, type: string, id: string): void };
  workspaces: { active(): string };
  tray: { close(): void };
};

declare const $: (selector: string) => { hasClass(name: string): boolean; text(): string; length: number };

declare const monaco: {
  editor: { getEditors(): Array<{ getContainerDomNode(): Element; setValue(value: string): void }> };
};
