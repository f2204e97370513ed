"""A natural-language instruction for every Meta-World v3 task, written for Hy-VLA.

Several tasks look alike at low resolution (reach, push and pick-place share a
scene), so each instruction names the object and the goal as specifically as
the scene allows: the text is what tells a multi-task policy which task it is in.
`tests/sim/test_metaworld_instructions.py` checks that every task of the
installed Meta-World has an entry here.
"""

from __future__ import annotations

INSTRUCTIONS: dict[str, str] = {
    "assembly-v3": "pick up the ring nut and place it onto the peg",
    "basketball-v3": "pick up the basketball and drop it into the hoop",
    "bin-picking-v3": "pick up the cube from the left bin and place it in the right bin",
    "box-close-v3": "pick up the box lid and put it on the box",
    "button-press-topdown-v3": "press the button down from above",
    "button-press-topdown-wall-v3": "reach over the wall and press the button down from above",
    "button-press-v3": "push the button on the front of the box",
    "button-press-wall-v3": "reach around the wall and push the button on the box",
    "coffee-button-v3": "press the button on the coffee machine",
    "coffee-pull-v3": "pull the mug away from the coffee machine",
    "coffee-push-v3": "push the mug under the coffee machine spout",
    "dial-turn-v3": "turn the dial a quarter turn",
    "disassemble-v3": "lift the ring nut off the peg",
    "door-close-v3": "swing the door closed",
    "door-lock-v3": "turn the door lock down to lock it",
    "door-open-v3": "pull the door open by its handle",
    "door-unlock-v3": "turn the door lock up to unlock it",
    "drawer-close-v3": "push the drawer closed",
    "drawer-open-v3": "pull the drawer open",
    "faucet-close-v3": "turn the faucet handle to close it",
    "faucet-open-v3": "turn the faucet handle to open it",
    "hammer-v3": "pick up the hammer and hammer the nail into the wall",
    "hand-insert-v3": "move the hand into the hole in the table",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up",
    "peg-insert-side-v3": "pick up the peg and insert it sideways into the hole",
    "peg-unplug-side-v3": "pull the peg out of the hole sideways",
    "pick-out-of-hole-v3": "pick the cylinder out of the hole and lift it to the goal",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "pick-place-wall-v3": "pick up the puck, lift it over the wall and place it at the goal",
    "plate-slide-back-side-v3": "slide the plate sideways back out of the cabinet",
    "plate-slide-back-v3": "slide the plate back out of the cabinet",
    "plate-slide-side-v3": "slide the plate sideways into the cabinet",
    "plate-slide-v3": "slide the plate forward into the cabinet",
    "push-back-v3": "push the puck backwards to the goal",
    "push-v3": "push the puck to the goal",
    "push-wall-v3": "push the puck around the wall to the goal",
    "reach-v3": "move the gripper to the goal",
    "reach-wall-v3": "reach over the wall to the goal",
    "shelf-place-v3": "pick up the block and place it on the shelf",
    "soccer-v3": "push the soccer ball into the goal",
    "stick-pull-v3": "grasp the stick and use it to pull the container",
    "stick-push-v3": "grasp the stick and use it to push the container",
    "sweep-into-v3": "sweep the block into the hole in the table",
    "sweep-v3": "sweep the block off the edge of the table",
    "window-close-v3": "slide the window closed",
    "window-open-v3": "slide the window open",
}


def instruction_for(task: str) -> str:
    """The instruction of a Meta-World task (KeyError names the task if it has none)."""
    try:
        return INSTRUCTIONS[task]
    except KeyError:
        raise KeyError(f"no instruction written for Meta-World task {task!r}") from None
