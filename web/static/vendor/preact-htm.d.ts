// Types for the vendored Preact + htm standalone build (preact-htm.js), for `tsc --noEmit` only:
// the page loads the .js file; this file is never served. Written for Huddle, covering what the
// pages use.

/** A rendered node, as `html` returns it. */
export type VNode = any;

/** A tagged template of Preact elements. */
export function html(strings: TemplateStringsArray, ...values: any[]): VNode;
export function h(type: any, props?: any, ...children: any[]): VNode;
export function render(node: VNode, parent: Element): void;
export class Component<P = any, S = any> {
  props: P;
  state: S;
  setState(update: Partial<S> | ((s: S) => Partial<S>)): void;
}
export function createContext<T>(value: T): any;
export function useContext<T>(context: any): T;

type SetState<S> = (value: S | ((previous: S) => S)) => void;
export function useState<S>(initial: S | (() => S)): [S, SetState<S>];
export function useState<S = undefined>(): [S | undefined, SetState<S | undefined>];
export function useReducer<S, A>(reducer: (state: S, action: A) => S, initial: S): [S, (action: A) => void];
export function useEffect(effect: () => void | (() => void), inputs?: readonly unknown[]): void;
export function useLayoutEffect(effect: () => void | (() => void), inputs?: readonly unknown[]): void;
export function useRef<T = any>(initial?: T): { current: T };
export function useImperativeHandle(ref: any, create: () => any, inputs?: readonly unknown[]): void;
export function useMemo<T>(factory: () => T, inputs: readonly unknown[]): T;
export function useCallback<T extends (...args: any[]) => any>(callback: T, inputs: readonly unknown[]): T;
export function useDebugValue(value: unknown): void;
export function useErrorBoundary(callback?: (error: unknown) => void): [unknown, () => void];
